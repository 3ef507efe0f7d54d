"""Ops in a real browser (issue 8): log in to the admin, read the dashboard, follow "needs
attention" to the manual-assignment queue, and assign a vendor by hand — screenshots of each step
in test-artifacts/ (core/tests/browser.py)."""

import importlib
import re

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import expect

from bookings.models import Booking, BookingStatus
from bookings.services.creation import booking_create
from bookings.services.transitions import booking_reject
from bookings.tests.conftest import ADDRESS
from bookings.tests.factories import VendorServiceFactory
from core.models import Role
from core.tests.browser import outside
from core.tests.factories import PASSWORD, VendorFactory
from core.tests.test_admin import make_user
from signatures.tests.conftest import ALL_DAY, PRICE, make_world, slot

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def staff_groups_as_migrated():
    """The staff groups as core/migrations/0002_staff_groups.py makes them. A transactional test
    that ran earlier flushes every table, and the groups are migration data, not recreated by
    post_migrate as permissions are."""
    migration = importlib.import_module("core.migrations.0002_staff_groups")
    permissions = list(Permission.objects.select_related("content_type"))
    for name, wanted in migration._group_permissions(django_apps).items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set([p for p in permissions if (p.content_type.app_label, p.codename) in wanted])


def test_ops_assign_a_vendor_from_the_needs_attention_queue(browser, settings):
    settings.PAYMENT_GATEWAY = "fake"
    staff_groups_as_migrated()
    world = make_world()
    booking = booking_create(
        customer=world.customer,
        lines=[{"service_id": world.service.pk, "quantity": 1}],
        scheduled_at=slot(3),
        address=ADDRESS,
        payment_method="cash",
    )
    booking_reject(booking=booking, user=world.vendor.user, reason="On leave that day")
    assert Booking.objects.get(pk=booking.pk).needs_manual_assignment
    stand_in = VendorFactory(display_name="Stand-in Services", working_hours=ALL_DAY)
    VendorServiceFactory(vendor=stand_in, service=world.service, price=PRICE)
    ops = make_user(Role.OPS_MANAGER, "opsdesk")

    # ops sign in at the admin's own login page
    page = browser.new_page()
    page.goto("/admin/")
    page.get_by_label("Username").fill(ops.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # the dashboard: KPIs, needs attention, charts drawn on the server
    dashboard = page.locator("#ops-dashboard")
    expect(dashboard).to_be_visible()
    expect(dashboard.locator("svg")).to_have_count(3)
    queue = page.locator('#ops-attention a[data-attention="manual_assignment"]')
    expect(queue).to_contain_text("Manual assignment queue: 1")
    browser.screenshot(page, "admin-dashboard")

    # needs attention → the queue, filtered
    queue.click()
    expect(page).to_have_url(re.compile(r"attention=manual_assignment"))
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(booking.booking_number)
    browser.screenshot(page, "admin-needs-attention")

    # assign a vendor by hand: only vendors eligible and free for the slot are offered
    row.locator("input.action-select").check()
    page.locator('select[name="action"]').select_option("assign_vendor")
    page.locator('button[name="index"]').first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Assign a vendor to {booking.booking_number}")
    expect(page.locator('input[name="vendor"]')).to_have_count(2)  # the stand-in, and the vendor who declined
    page.get_by_label("Stand-in Services", exact=False).check()
    page.get_by_label("Reason").fill("Agreed by phone with the stand-in")
    browser.screenshot(page, "admin-assign-vendor")
    page.get_by_role("button", name="Assign").click()

    expect(page.locator(".messagelist .success")).to_contain_text("assigned to Stand-in Services")
    browser.screenshot(page, "admin-assigned")

    assigned = outside(lambda: Booking.objects.select_related("vendor").get(pk=booking.pk))
    assert (assigned.status, assigned.vendor.display_name) == (BookingStatus.CONFIRMED, "Stand-in Services")
