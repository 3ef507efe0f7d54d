"""``GET /api/audit-logs/`` (ARCHITECTURE §10, §11): super admins read the audit log through the
API, filtered; every other role is refused; nobody can write through it."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from core.models import AuditLog, Role
from core.tests.factories import CustomerFactory, OpsFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db
URL = "/api/audit-logs/"


@pytest.fixture
def super_admin():
    return UserFactory(role=Role.SUPER_ADMIN, is_staff=True, is_superuser=True)


def entry(*, actor, action, obj, at):
    """An entry as audit_record writes it, dated ``at`` (the log refuses later updates)."""
    return AuditLog.objects.create(
        actor=actor,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        old_values={"status": "pending"},
        new_values={"status": "confirmed"},
        created_at=at,
    )


def test_only_a_super_admin_reads_the_audit_log(client_for, super_admin, api_client):
    assert api_client.get(URL).status_code == 401
    for user in (CustomerFactory(), VendorFactory().user, OpsFactory(), UserFactory(role=Role.ONBOARD_MANAGER)):
        assert client_for(user).get(URL).status_code == 403
    assert client_for(super_admin).get(URL).status_code == 200


def test_entries_newest_first_with_their_actor_and_values(client_for, super_admin):
    ops = OpsFactory()
    now = timezone.now()
    older = entry(actor=ops, action="booking.accept", obj=ops, at=now - timedelta(hours=2))
    newer = entry(actor=None, action="booking.expire", obj=ops, at=now - timedelta(hours=1))

    body = client_for(super_admin).get(URL).json()

    ids = [row["id"] for row in body["results"]]
    assert ids.index(newer.pk) < ids.index(older.pk)
    row = next(row for row in body["results"] if row["id"] == older.pk)
    assert row["actor"] == {"id": str(ops.pk), "username": ops.username, "role": "ops_manager"}
    assert (row["old_values"], row["new_values"]) == ({"status": "pending"}, {"status": "confirmed"})
    assert next(row for row in body["results"] if row["id"] == newer.pk)["actor"] is None


def test_filters_by_actor_action_object_and_day(client_for, super_admin):
    ops, other = OpsFactory(), OpsFactory()
    zone = timezone.get_default_timezone()
    day = datetime(2026, 11, 20, 12, 0, tzinfo=zone)
    mine = entry(actor=ops, action="booking.cancel", obj=other, at=day)
    entry(actor=other, action="booking.cancel", obj=other, at=day)
    entry(actor=ops, action="payout.retry", obj=other, at=day)
    entry(actor=ops, action="booking.cancel", obj=other, at=day + timedelta(days=2))
    api = client_for(super_admin)

    found = api.get(
        URL,
        {
            "actor": str(ops.pk),
            "action": "booking.cancel",
            "object_type": "core.user",
            "object_id": str(other.pk),
            "date_from": "2026-11-20",
            "date_to": "2026-11-20",
        },
    ).json()

    assert [row["id"] for row in found["results"]] == [mine.pk]
    assert found["count"] == 1


@pytest.mark.parametrize(
    "query",
    [
        {"actor": "not-a-uuid"},
        {"date_from": "yesterday"},
        {"date_from": "0001-01-01"},
        {"date_to": "9999-12-31"},
        {"date_from": "2026-11-21", "date_to": "2026-11-20"},
        {"page_size": "many"},
    ],
)
def test_bad_filters_are_400(client_for, super_admin, query):
    response = client_for(super_admin).get(URL, query)
    assert response.status_code == 400, response.content


def test_the_api_cannot_write_the_log(client_for, super_admin):
    api = client_for(super_admin)
    for method in (api.post, api.put, api.patch, api.delete):
        assert method(URL, {}, format="json").status_code == 405


def test_the_query_count_does_not_grow_with_rows(client_for, super_admin, django_assert_max_num_queries):
    api = client_for(super_admin)
    actors = [OpsFactory() for _ in range(5)]
    for index in range(60):
        entry(actor=actors[index % 5], action="booking.accept", obj=actors[0], at=timezone.now())
    # a session-less JWT request: the user, the count, the page with its actors
    with django_assert_max_num_queries(3):
        assert len(api.get(URL, {"page_size": 50}).json()["results"]) == 50
