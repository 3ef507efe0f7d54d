"""Query budgets: the queries each list request costs, at 10 rows and at 100, for every list
endpoint of the API, every list page and the admin changelists; exits 1 when any count differs
(an N+1: a query per row).

    .venv/bin/python bench/query_budgets.py                     # 10 and 100 rows (~3 min)
    .venv/bin/python bench/query_budgets.py --small 3 --large 12 --only api/bookings

Runs on a database of its own, made and dropped with Django's test machinery (the test settings,
PostgreSQL when it answers — ``TEST_DB_NAME``, default ``homeserve_query_budgets``), with the
test client: the API with a real access JWT, the pages and the admin with a logged-in session.
Rows are made with the factories (``*/tests/factories.py``) and the test helpers, through the
services where the product makes them so (bookings, payments, signatures, chat, payouts).

Each request is made twice and the second is counted, so caches that fill once per process
(content types, the settings row) do not count as rows. "rows" is what the request shows or
pages over (the API's ``count``, the changelist's result count, the page's own rows); a page
that shows at most N rows (a paginated page, a "latest" box) is measured at min(rows, N) — still
enough rows to show a query per row.
"""

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Probe:
    name: str  # what is listed, and for whom
    client: str  # which client asks: customer, vendor, payout_vendor, ops, admin, anonymous
    url: object  # the path, or a function of the world that returns it
    rows: object  # a function of (world, response) that says how many rows the request lists


def _api_rows(world, response):
    body = response.json()
    if isinstance(body, dict) and "count" in body:
        return body["count"]
    if isinstance(body, dict) and "results" in body:
        return len(body["results"])
    if isinstance(body, dict) and "rows" in body:
        return len(body["rows"])
    return len(body)


def admin_probes():
    """One per changelist of the admin (the ops back office), bookings, payments and payouts first."""
    from django.contrib import admin

    first = ["bookings.booking", "payments.paymentattempt", "payments.payout"]
    models = sorted(
        (f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry),
        key=lambda label: (label not in first, first.index(label) if label in first else 0, label),
    )
    return [Probe(f"admin {label}", "admin", f"admin:{label}", _changelist_rows) for label in models]


def _changelist_rows(world, response):
    return response.context["cl"].result_count


def _context_rows(key):
    def rows(world, response):
        value = response.context[key]
        if hasattr(value, "paginator"):
            return value.paginator.count
        return len(value)

    return rows


PROBES = [
    # --- the API -------------------------------------------------------------------------------
    Probe("GET /api/bookings/ (customer)", "customer", "/api/bookings/?page_size=100", _api_rows),
    Probe("GET /api/bookings/ (vendor)", "vendor", "/api/bookings/?page_size=100", _api_rows),
    Probe("GET /api/bookings/ (ops)", "ops", "/api/bookings/?page_size=100", _api_rows),
    Probe(
        "GET /api/bookings/{id}/ (timeline)",
        "customer",
        lambda w: f"/api/bookings/{w.chat_booking.pk}/",
        lambda w, r: len(r.json()["timeline"]),
    ),
    Probe(
        "GET /api/vendors/?service&pincode",
        "customer",
        lambda w: f"/api/vendors/?service={w.search_service.pk}&pincode=560034&page_size=100",
        _api_rows,
    ),
    Probe(
        "GET /api/vendors/?…&available_on",
        "customer",
        lambda w: f"/api/vendors/?service={w.search_service.pk}&pincode=560034&available_on={w.day}&page_size=100",
        _api_rows,
    ),
    Probe(
        "GET /api/vendors/{id}/ (reviews)",
        "customer",
        lambda w: f"/api/vendors/{w.vendor.pk}/",
        lambda w, r: r.json()["reviews_count"],
    ),
    Probe("GET /api/services/", "anonymous", "/api/services/", _api_rows),
    Probe("GET /api/notifications/", "notified", "/api/notifications/?page_size=100", _api_rows),
    Probe("GET /api/signatures/ (customer)", "customer", "/api/signatures/?page_size=100", _api_rows),
    Probe("GET /api/signatures/ (vendor)", "vendor", "/api/signatures/?page_size=100", _api_rows),
    Probe("GET /api/signatures/ (ops)", "ops", "/api/signatures/?page_size=100", _api_rows),
    Probe("GET /api/payments/ (customer)", "customer", "/api/payments/?page_size=100", _api_rows),
    Probe("GET /api/payments/ (ops)", "ops", "/api/payments/?page_size=100", _api_rows),
    Probe("GET /api/earnings/ (rows by day)", "payout_vendor", lambda w: w.earnings_url, _api_rows),
    Probe("GET /api/payouts/ (vendor)", "payout_vendor", "/api/payouts/?page_size=100", _api_rows),
    Probe("GET /api/payouts/ (ops)", "ops", "/api/payouts/?page_size=100", _api_rows),
    Probe(
        "GET /api/bookings/{id}/messages/",
        "customer",
        lambda w: f"/api/bookings/{w.chat_booking.pk}/messages/?limit=100",
        lambda w, r: len(r.json()["results"]),
    ),
    Probe(
        "GET /api/bookings/{id}/photos/", "vendor", lambda w: f"/api/bookings/{w.photo_booking.pk}/photos/", _api_rows
    ),
    Probe("GET /api/users/me/addresses/", "customer", "/api/users/me/addresses/", _api_rows),
    Probe("GET /api/vendors/me/services/", "vendor", "/api/vendors/me/services/", _api_rows),
    Probe("GET /api/vendors/me/documents/", "vendor", "/api/vendors/me/documents/?page_size=100", _api_rows),
    Probe("GET /api/vendors/me/time-off/", "vendor", "/api/vendors/me/time-off/", _api_rows),
    Probe("GET /api/audit-logs/ (super admin)", "admin", "/api/audit-logs/?page_size=100", _api_rows),
    # --- the pages -----------------------------------------------------------------------------
    Probe("page / (home: services)", "anonymous", "/", _context_rows("services")),
    Probe(
        "page /search/ (results)",
        "anonymous",
        lambda w: f"/search/?service={w.search_service.pk}&pincode=560034",
        _context_rows("page_obj"),
    ),
    Probe("page /vendors/{id}/ (reviews)", "anonymous", lambda w: f"/vendors/{w.vendor.pk}/", _context_rows("reviews")),
    Probe("page /bookings/ (my bookings, upcoming)", "customer", "/bookings/", _context_rows("page_obj")),
    Probe("page /bookings/?tab=past (my bookings)", "customer", "/bookings/?tab=past", _context_rows("page_obj")),
    Probe(
        "page /bookings/{id}/ (timeline, chat)",
        "customer",
        lambda w: f"/bookings/{w.chat_booking.pk}/",
        lambda w, r: len(r.context["chat"]["messages"]),
    ),
    Probe(
        "page /bookings/{id}/ (photos)",
        "customer",
        lambda w: f"/bookings/{w.photo_booking.pk}/",
        _context_rows("photos"),
    ),
    Probe("page /vendor/ (dashboard: jobs)", "vendor", "/vendor/", _context_rows("upcoming_jobs")),
    Probe(
        "page /vendor/jobs/{id}/ (photos)",
        "vendor",
        lambda w: f"/vendor/jobs/{w.photo_booking.pk}/",
        _context_rows("photos"),
    ),
    Probe(
        "page /vendor/jobs/{id}/ (timeline, chat)",
        "vendor",
        lambda w: f"/vendor/jobs/{w.chat_booking.pk}/",
        lambda w, r: len(r.context["chat"]["messages"]),
    ),
    Probe("page /vendor/earnings/ (rows, payouts)", "payout_vendor", "/vendor/earnings/", _context_rows("payouts")),
    Probe("page /vendor/schedule/ (time off)", "vendor", "/vendor/schedule/", _context_rows("time_off")),
    Probe("page /vendor/apply/ (documents, services)", "vendor", "/vendor/apply/", _context_rows("documents")),
    Probe("page /notifications/", "notified", "/notifications/", _context_rows("page_obj")),
    Probe("page /account/ (addresses)", "customer", "/account/", _context_rows("addresses")),
    Probe(
        "page /bookings/{id}/sign/ (photos)",
        "customer",
        lambda w: f"/bookings/{w.sign_booking.pk}/sign/",
        _context_rows("photos"),
    ),
]


# --- the world -------------------------------------------------------------------------------------


class World:
    """The rows every probe lists, grown to a size on request (``grow(n)``: n of each)."""

    def __init__(self):
        from django.utils import timezone

        from bookings.tests.conftest import local_time
        from bookings.tests.factories import CategoryFactory, ServiceFactory, VendorServiceFactory
        from core.models import Role
        from core.tests.factories import CustomerFactory, OpsFactory, UserFactory, VendorFactory
        from signatures.tests.conftest import ALL_DAY, PRICE
        from signatures.tests.conftest import World as SignatureWorld

        self.service = ServiceFactory(name="Deep cleaning", duration_minutes=60)
        self.vendor = VendorFactory(working_hours=ALL_DAY, payout_account_id="acct_budget_vendor")
        VendorServiceFactory(vendor=self.vendor, service=self.service, price=PRICE)
        self.customer = CustomerFactory(email_verified=True)
        self.notified = CustomerFactory()
        self.ops = OpsFactory()
        self.admin = UserFactory(role=Role.SUPER_ADMIN, is_staff=True, is_superuser=True)
        self.payout_vendor = VendorFactory(payout_account_id="acct_budget_payouts")
        self.search_service = ServiceFactory(name="Searched for", duration_minutes=60)
        self.category = CategoryFactory()
        self.flow = SignatureWorld(service=self.service, vendor=self.vendor, customer=self.customer, ops=self.ops)
        self.day = local_time(3, 0).date().isoformat()
        today = timezone.localdate()
        self.earnings_url = (
            f"/api/earnings/?period=day&date_from={today - timedelta(days=400)}&date_to={today + timedelta(days=1)}"
        )
        self.made = {}
        self.reminded = []
        self.slot = 0
        self.started = timezone.now()
        # The bookings the per-booking lists are about.
        self.chat_booking = self._booking(status="confirmed")
        self.photo_booking = self._booking(status="in_progress")
        self.sign_booking = self._booking(status="awaiting_signature")

    # One booking of the customer with the vendor, taken to ``status`` through the services.
    def _booking(self, *, status):
        from django.utils import timezone

        from bookings.services.creation import booking_create
        from bookings.services.transitions import booking_accept, booking_cancel, booking_start
        from bookings.tests.conftest import ADDRESS
        from signatures.services import signature_request, signature_sign
        from signatures.tests.conftest import slot

        index = self.slot
        self.slot += 1
        if status in ("awaiting_signature", "signed"):
            # Paid by card where the card can be authorised at once (a start under 3 days away;
            # a later one only saves the card, §6), in cash after that.
            card = status == "signed" and slot(index) - timezone.now() < timedelta(hours=70)
            booking = self.flow.complete(index=index, method="card" if card else "cash")
            request, _created = signature_request(booking=booking, user=self.vendor.user)
            if status == "signed":
                signature_sign(request=request, user=self.customer, rating=5, comments="Great work")
            booking.refresh_from_db()
            return booking
        booking = booking_create(
            customer=self.customer,
            lines=[{"service_id": self.service.pk, "quantity": 1}],
            scheduled_at=slot(index),
            address=ADDRESS,
            vendor_id=str(self.vendor.pk),
            payment_method="cash",
        )
        if status == "pending":
            return booking
        if status == "cancelled":
            return booking_cancel(booking=booking, user=self.customer, reason="Plans changed")
        booking = booking_accept(booking=booking, user=self.vendor.user)
        if status == "in_progress":
            booking = booking_start(booking=booking, user=self.vendor.user, now=slot(index))
        return booking

    def _grow(self, name, n, add):
        have = self.made.get(name, 0)
        for index in range(have, n):
            add(index)
        self.made[name] = max(have, n)

    def grow(self, n):
        """n of every kind of row (bookings in a mix of statuses, each with its payment; reviews,
        signature requests, earnings, payouts, messages, photos, notifications …)."""
        from decimal import Decimal

        from bookings.models import BookingEvent, BookingReminder
        from bookings.services.chat import message_post
        from bookings.tests.factories import CategoryFactory, PromoCodeFactory, ServiceFactory, VendorServiceFactory
        from bookings.tests.photos import add_photo
        from core.addresses import MAX_ADDRESSES, address_create
        from core.models import VendorDocument, VendorTimeOff
        from core.notifications import notify
        from core.tests.factories import VendorFactory

        statuses = ["signed", "awaiting_signature", "confirmed", "pending", "cancelled"]
        self._grow("bookings", n, lambda i: self.reminded.append(self._booking(status=statuses[i % len(statuses)])))
        # 10 s apart, so that nobody hits the chat's rate limit (20 a minute per sender)
        self._grow(
            "messages",
            n,
            lambda i: message_post(
                booking=self.chat_booking,
                user=self.customer if i % 2 else self.vendor.user,
                body=f"Message {i}: see you at the gate",
                now=self.started + timedelta(seconds=10 * i),
            ),
        )
        # the chat booking's timeline: notes by ops (events the timeline lists as it lists any)
        self._grow(
            "events",
            n,
            lambda i: BookingEvent.objects.create(
                booking=self.chat_booking,
                actor=self.ops,
                event="note",
                from_status=self.chat_booking.status,
                to_status=self.chat_booking.status,
                note=f"Called the customer ({i})",
            ),
        )
        self._grow("photos", n, lambda i: add_photo(self.photo_booking, kind="before" if i % 2 else "after"))
        self._grow("sign photos", n, lambda i: add_photo(self.sign_booking, kind="before" if i % 2 else "after"))
        self._grow(
            "notifications",
            n,
            lambda i: notify(user=self.notified, kind="promo.news", title=f"News {i}", body="Something new", sms=False),
        )
        self._grow(  # a customer keeps at most 20 (core.addresses.MAX_ADDRESSES)
            "addresses",
            min(n, MAX_ADDRESSES),
            lambda i: address_create(
                user=self.customer, label=f"Home {i}", line1=f"{i} Lake View Road", city="Bengaluru", pincode="560034"
            ),
        )

        def add_service(i):
            VendorServiceFactory(vendor=self.vendor, service=ServiceFactory(category=self.category))

        self._grow("services", n, add_service)

        def add_search_vendor(i):
            vendor = VendorFactory(rating_avg=Decimal("4.00"), rating_count=i)
            VendorServiceFactory(vendor=vendor, service=self.search_service, price=Decimal("500.00") + i)

        self._grow("search vendors", n, add_search_vendor)
        start = self.photo_booking.scheduled_at + timedelta(days=40)

        def add_document_and_time_off(i):
            from django.core.files.uploadedfile import SimpleUploadedFile

            VendorDocument.objects.create(
                vendor=self.vendor, kind="certificate", file=SimpleUploadedFile("c.pdf", b"%PDF-1.4 budget")
            )
            VendorTimeOff.objects.create(
                vendor=self.vendor, starts_at=start + timedelta(days=i), ends_at=start + timedelta(days=i, hours=1)
            )

        self._grow("documents", n, add_document_and_time_off)
        self._grow("categories and promo codes", n, lambda i: (CategoryFactory(), PromoCodeFactory()))
        # a reminder marker per booking of the customer (what the reminder sweep writes)
        self._grow(
            "reminders",
            n,
            lambda i: BookingReminder.objects.get_or_create(
                booking=self.reminded[i],
                kind="24h",
                user=self.customer,
                defaults={"recipient": "customer", "starts_at": self.reminded[i].scheduled_at},
            ),
        )
        self._grow("payouts", n, self._payout)

    def _payout(self, index):
        """A card earning of the payout vendor captured ``index`` + 2 days ago, and its payout."""
        from django.utils import timezone

        from payments.payouts import payouts_run
        from payments.tests.test_payouts import captured

        now = timezone.now()
        captured(self.payout_vendor, at=now - timedelta(days=index + 2))
        (payout,) = payouts_run(now=now, vendor_ids=[self.payout_vendor.pk])
        return payout


# --- measuring ------------------------------------------------------------------------------------


def clients(world):
    from django.test import Client
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    users = {
        "customer": world.customer,
        "notified": world.notified,
        "vendor": world.vendor.user,
        "payout_vendor": world.payout_vendor.user,
        "ops": world.ops,
        "admin": world.admin,
    }
    api, pages = {"anonymous": APIClient()}, {"anonymous": Client()}
    for role, user in users.items():
        api[role] = APIClient()
        api[role].credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        pages[role] = Client()
        pages[role].force_login(user)
    return api, pages


def measure(world, probe, api, pages):
    """(queries, rows) of the probe's request, the second of two."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    url = probe.url(world) if callable(probe.url) else probe.url
    if url.startswith("admin:"):
        url = reverse(f"admin:{url.split(':', 1)[1].replace('.', '_')}_changelist")
    client = api[probe.client] if url.startswith("/api/") else pages[probe.client]
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{probe.name}: {url} answered {response.status_code}: {response.content[:300]!r}")
    rows = probe.rows(world, response) if probe.rows else "—"
    return len(queries.captured_queries), rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=100)
    parser.add_argument("--only", default="", help="only the probes whose name contains this")
    parser.add_argument("--keepdb", action="store_true", help="keep the database afterwards (for a look)")
    args = parser.parse_args()

    os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings.test"
    os.environ.setdefault("TEST_DB_NAME", "homeserve_query_budgets")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import django

    django.setup()
    import common
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    settings_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        from django.conf import settings

        settings.PAYMENT_GATEWAY = "fake"
        probes = [probe for probe in [*PROBES, *admin_probes()] if args.only in probe.name]
        world = World()
        api, pages = clients(world)
        results = {}
        for size in (args.small, args.large):
            world.grow(size)
            for probe in probes:
                results.setdefault(probe.name, []).append(measure(world, probe, api, pages))
        rows, differ = [], []
        for probe in probes:
            (small_queries, small_rows), (large_queries, large_rows) = results[probe.name]
            equal = small_queries == large_queries
            if not equal:
                differ.append(probe.name)
            rows.append([probe.name, small_rows, small_queries, large_rows, large_queries, "yes" if equal else "NO"])
        common.print_table(
            f"Queries per request at {args.small} and {args.large} rows of each kind "
            f"({connection.vendor}) — {common.machine()}",
            ["request", f"rows ({args.small})", "queries", f"rows ({args.large})", "queries", "equal"],
            rows,
        )
    finally:
        connection.creation.destroy_test_db(settings_name, verbosity=0, keepdb=args.keepdb)
        teardown_test_environment()
    if differ:
        print(f"\nQUERY COUNT GROWS WITH ROWS ({len(differ)}): " + "; ".join(differ))
        raise SystemExit(1)
    print(f"\nAll {len(rows)} requests cost the same queries at {args.small} and {args.large} rows.")


if __name__ == "__main__":
    main()
