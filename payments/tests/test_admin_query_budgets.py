"""The payment and payout changelists (and their exports) render 500 rows within a fixed query
budget (issue 8); that 2 and 4 rows cost the same is test_payments_admin.py's
``test_changelists_cost_the_same_queries_for_2_and_4_rows_of_each``."""

import itertools
from decimal import Decimal

import pytest
from django.urls import reverse

from bookings.tests.test_admin_query_budgets import BulkBookings
from core.models import Role
from core.tests.test_admin import admin_url, logged_in, make_user
from payments.models import Payout, PayoutStatus

D = Decimal
pytestmark = pytest.mark.django_db
_numbers = itertools.count(1)

# Session, user, the user's and the group's permissions, the count, the page of rows (with what
# each row shows joined in), the date hierarchy (2), a filter's distinct values.
BUDGET = 9


def bulk_payouts(vendors, count):
    statuses = [PayoutStatus.PAID, PayoutStatus.PENDING, PayoutStatus.FAILED]
    Payout.objects.bulk_create(
        Payout(
            number=f"PO-BULK-{next(_numbers):07d}",
            vendor=vendors[index % len(vendors)],
            amount=D("850.00"),
            currency="INR",
            status=statuses[index % len(statuses)],
        )
        for index in range(count)
    )


@pytest.fixture
def ops_client():
    return logged_in(make_user(Role.OPS_MANAGER, "ops"))


def test_500_payments_render_within_a_fixed_query_budget(ops_client, django_assert_max_num_queries):
    BulkBookings().add(500)

    with django_assert_max_num_queries(BUDGET):
        response = ops_client.get(admin_url("payments.paymentattempt"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100
    assert "BK-BULK-" in response.content.decode()


def test_500_payouts_render_within_a_fixed_query_budget(ops_client, django_assert_max_num_queries):
    bulk_payouts(BulkBookings().vendors, 500)

    with django_assert_max_num_queries(BUDGET):
        response = ops_client.get(admin_url("payments.payout"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100


@pytest.mark.parametrize("name", ["payments_paymentattempt_export", "payments_payout_export"])
def test_exporting_500_rows_reads_them_in_a_few_queries(ops_client, django_assert_max_num_queries, name):
    data = BulkBookings()
    data.add(500)
    bulk_payouts(data.vendors, 500)

    with django_assert_max_num_queries(BUDGET + 1):
        response = ops_client.get(reverse(f"admin:{name}"))
        body = b"".join(response.streaming_content)

    assert body.count(b"\n") == 1 + 500
