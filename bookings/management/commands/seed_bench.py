"""``manage.py seed_bench --scale 1.0``: a realistic volume for the benchmarks (bench/), PostgreSQL only.

At scale 1.0: 10,000 approved vendors (each serving three pincodes and three services),
200,000 customers and 1,000,000 cash bookings in every status — past ones signed, cancelled,
expired, completed, awaiting a signature or disputed; future ones pending, confirmed or in
progress — each with its line, its payment attempt and, where the cash was collected, its ledger
posting. Rows are written with COPY and one precomputed password hash (``Bench&Mark2026``).

Consistent with the invariants, not merely plausible: every money figure and ledger posting is
copied from a template booking that went through the real services (created, accepted, started,
photographed, completed, captured by ops) for each of the three services at its catalog price,
so ``ledger_check`` passes; a vendor's slot-holding bookings never overlap (the exclusion
constraint is live while loading); timestamps follow the lifecycle. Simplifications, stated: bench
bookings are paid in cash and reach ``signed`` by an ops capture (a path §5 allows), so they carry
no signature rows; their timelines hold no events.
"""

import random
import time
import uuid
from datetime import datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from bookings.availability import platform_zone
from bookings.models import Booking, BookingLine, BookingStatus, Service, VendorSearchEntry, VendorService
from bookings.search_index import search_index_rebuild
from bookings.services.catalog import vendor_service_set
from bookings.services.creation import booking_create
from bookings.services.photos import photo_upload
from bookings.services.transitions import booking_accept, booking_capture_by_ops, booking_complete, booking_start
from core.demo_data import demo_photo, seed_demo
from core.geo import pincode_coordinates, pincode_table
from core.models import OnboardingStatus, Role, SystemSettings, User, VendorPincode, VendorProfile
from core.services import user_mark_phone_verified, user_register, vendor_profile_update, vendor_set_onboarding_status
from payments.models import LedgerLine, LedgerTransaction, PaymentAttempt
from payments.operations import operations_run_due

PASSWORD = "Bench&Mark2026"  # noqa: S105 - published in the README, bench data only
SERVICES = ("bathroom-cleaning", "ac-service", "tap-leak-repair")
WEEK = {str(day): [["07:00", "21:00"]] for day in range(7)}
SLOT_HOURS = (8, 11, 14, 17)  # each vendor's bookings start on these hours, one per slot
PAST_DAYS = 180
# Share of bookings per status: the past ones, then the future ones (slot-holding: they must
# never overlap for a vendor).
PAST_STATUSES = [
    (BookingStatus.SIGNED, 0.62),
    (BookingStatus.CANCELLED, 0.10),
    (BookingStatus.EXPIRED, 0.03),
    (BookingStatus.COMPLETED, 0.01),
    (BookingStatus.AWAITING_SIGNATURE, 0.015),
    (BookingStatus.DISPUTED, 0.005),
]
FUTURE_STATUSES = [(BookingStatus.PENDING, 0.05), (BookingStatus.CONFIRMED, 0.195), (BookingStatus.IN_PROGRESS, 0.005)]
COLLECTED = {BookingStatus.SIGNED}  # cash handed over and posted to the ledger


class Command(BaseCommand):
    help = "Seed the benchmark volume (10k vendors, 200k customers, 1M bookings at scale 1.0) with COPY."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, scale, seed, **options):
        if connection.vendor != "postgresql":
            raise CommandError("seed_bench writes with COPY: point DATABASE_URL at PostgreSQL.")
        if scale <= 0:
            raise CommandError("--scale must be positive.")
        if User.objects.filter(username__startswith="bench-").exists():
            raise CommandError("This database already holds bench data: seed a fresh one.")
        self.random = random.Random(seed)
        self.now = timezone.now()
        counts = {
            "vendors": max(1, round(10_000 * scale)),
            "customers": max(1, round(200_000 * scale)),
            "bookings": max(1, round(1_000_000 * scale)),
        }
        began = time.monotonic()
        seed_demo()
        self.services = {slug: Service.objects.get(slug=slug) for slug in SERVICES}
        self.templates = self._templates()
        self.stdout.write(f"templates made through the services in {time.monotonic() - began:.1f} s")
        with transaction.atomic():
            vendors = self._vendors(counts["vendors"])
            customers = self._customers(counts["customers"])
            made = self._bookings(counts["bookings"], vendors, customers)
        # COPY sends no signals: the vendors reach the search index in one rebuild.
        search_index_rebuild()
        with connection.cursor() as cursor:
            for model in (
                User,
                VendorProfile,
                VendorService,
                VendorSearchEntry,
                Booking,
                BookingLine,
                PaymentAttempt,
                LedgerLine,
            ):
                cursor.execute(f'ANALYZE "{model._meta.db_table}"')
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_bench: {len(vendors)} vendors, {len(customers)} customers, {made} bookings "
                f"in {time.monotonic() - began:.0f} s (password {PASSWORD})"
            )
        )

    # --- templates -------------------------------------------------------------------------------

    def _templates(self):
        """Per service: a cash booking taken through the real services to signed and collected;
        its money fields, attempt and ledger lines are what every bench booking of that service
        copies."""
        onboarder = User.objects.get(email="onboard@homeserve.test")
        ops = User.objects.get(email="ops@homeserve.test")
        vendor = self._real_vendor("bench-template", onboarder)
        customer = user_register(
            email="bench-template-customer@homeserve.test",
            password=PASSWORD,
            role=Role.CUSTOMER,
            first_name="Template",
            last_name="Customer",
            username="bench-template-customer",
        )
        config = SystemSettings.load()
        config.start_early_minutes = 10 * 24 * 60
        config.save(update_fields=["start_early_minutes"])
        templates = {}
        for index, (slug, service) in enumerate(self.services.items()):
            day = (self.now.astimezone(platform_zone()) + timedelta(days=2)).date()
            start = datetime.combine(day, dt_time(8 + 3 * index), tzinfo=platform_zone())
            booking = booking_create(
                customer=customer,
                lines=[{"service_id": service.pk, "quantity": 1}],
                scheduled_at=start,
                address={"line1": "1 Template Road", "city": "Bengaluru", "pincode": "560034"},
                vendor_id=str(vendor.pk),
                payment_method="cash",
            )
            booking_accept(booking=booking, user=vendor.user)
            booking = booking_start(booking=booking, user=vendor.user)
            for kind in ("before", "after"):
                photo_upload(booking=booking, user=vendor.user, kind=kind, image_file=demo_photo(kind))
            booking_complete(booking=booking, user=vendor.user)
            booking_capture_by_ops(booking=booking, user=ops, reason="bench template")
            operations_run_due()
            booking.refresh_from_db()
            attempt = booking.payment_attempts.get(is_active=True)
            transactions = list(LedgerTransaction.objects.filter(booking=booking).prefetch_related("lines"))
            if booking.status != BookingStatus.SIGNED or attempt.status != "captured" or not transactions:
                raise CommandError(f"the template booking for {slug} did not reach signed and captured")
            templates[slug] = {
                "booking": booking,
                "line": booking.lines.get(),
                "attempt": attempt,
                "transactions": [
                    (txn, [(line.account, line.amount, line.currency) for line in txn.lines.all()])
                    for txn in transactions
                ],
                "vendor_key": str(vendor.pk),
            }
        config.start_early_minutes = 60
        config.save(update_fields=["start_early_minutes"])
        return templates

    def _real_vendor(self, name, onboarder):
        user = user_register(
            email=f"{name}@homeserve.test",
            password=PASSWORD,
            role=Role.VENDOR,
            first_name="Template",
            last_name="Vendor",
            phone="+919700000000",
            username=name,
        )
        profile = user.vendor_profile
        lat, lng = pincode_coordinates("560034")
        vendor_profile_update(
            vendor=profile,
            actor=user,
            pincodes=["560034"],
            display_name="Template Vendor",
            base_lat=lat,
            base_lng=lng,
            working_hours={str(day): [["00:00", "24:00"]] for day in range(7)},
        )
        for service in self.services.values():
            vendor_service_set(vendor=profile, service_id=service.pk, price=service.base_price, actor=user)
        user_mark_phone_verified(user=user, actor=onboarder)
        vendor_set_onboarding_status(vendor=profile, status=OnboardingStatus.APPROVED, actor=onboarder, reason="bench")
        return profile

    # --- people ----------------------------------------------------------------------------------

    def _users(self, count, *, role, prefix, phone_base=None):
        password = make_password(PASSWORD)
        ids = [uuid.uuid4() for _ in range(count)]
        rows = (
            self._row(
                User,
                id=ids[index],
                password=password,
                username=f"{prefix}-{index}",
                email=f"{prefix}-{index}@homeserve.test",
                first_name="Bench",
                last_name=f"{role.title()} {index}",
                role=role,
                phone=f"+91{phone_base + index}" if phone_base else "",
                phone_verified=bool(phone_base),
                is_active=True,
                date_joined=self.now - timedelta(days=400),
            )
            for index in range(count)
        )
        self._copy(User, rows)
        return ids

    def _vendors(self, count):
        user_ids = self._users(count, role=Role.VENDOR, prefix="bench-vendor", phone_base=9_600_000_000)
        pincodes = sorted(pincode_table())
        vendor_ids = [uuid.uuid4() for _ in range(count)]
        homes = [pincodes[index % len(pincodes)] for index in range(count)]
        self._copy(
            VendorProfile,
            (
                self._row(
                    VendorProfile,
                    id=vendor_ids[index],
                    user_id=user_ids[index],
                    display_name=f"Bench Vendor {index}",
                    base_lat=pincode_coordinates(homes[index])[0],
                    base_lng=pincode_coordinates(homes[index])[1],
                    radius_km=Decimal("5.0"),
                    working_hours=WEEK,
                    is_available=True,
                    onboarding_status=OnboardingStatus.APPROVED,
                    rating_avg=Decimal(self.random.choice(["3.80", "4.20", "4.50", "4.80", "5.00"])),
                    rating_count=self.random.randint(5, 400),
                    created_at=self.now - timedelta(days=400),
                    updated_at=self.now,
                )
                for index in range(count)
            ),
        )
        self._copy(
            VendorPincode,
            (
                self._row(VendorPincode, vendor_id=vendor_ids[index], pincode=pincodes[(index + shift) % len(pincodes)])
                for index in range(count)
                for shift in range(3)
            ),
            pk=False,
        )
        self._copy(
            VendorService,
            (
                self._row(VendorService, vendor_id=vendor_ids[index], service_id=service.pk, price=service.base_price)
                for index in range(count)
                for service in self.services.values()
            ),
            pk=False,
        )
        return list(zip(vendor_ids, user_ids, homes, strict=True))

    def _customers(self, count):
        return self._users(count, role=Role.CUSTOMER, prefix="bench-customer")

    # --- bookings --------------------------------------------------------------------------------

    def _bookings(self, count, vendors, customers):
        zone = platform_zone()
        today = self.now.astimezone(zone).date()
        future_share = sum(share for _status, share in FUTURE_STATUSES)
        per_vendor = max(1, count // len(vendors))
        made = 0
        booking_rows, line_rows, attempt_rows, txn_rows, ledger_rows = [], [], [], [], []
        cash_vendor_accounts = {}
        for vendor_index, (vendor_id, _user_id, home) in enumerate(vendors):
            take = per_vendor + (1 if vendor_index < count - per_vendor * len(vendors) else 0)
            future = round(take * future_share)
            started, extra = False, 0
            for slot in range(take):
                is_future = slot < future
                if is_future:
                    status = self._pick(FUTURE_STATUSES)
                    day_offset, hour = 1 + slot // len(SLOT_HOURS), SLOT_HOURS[slot % len(SLOT_HOURS)]
                    if status == BookingStatus.IN_PROGRESS:
                        day_offset, hour = 0, None  # started today, a little while ago
                else:
                    status = self._pick(PAST_STATUSES)
                    past_slot = slot - future
                    day_offset = -1 - (past_slot // len(SLOT_HOURS)) % PAST_DAYS
                    hour = SLOT_HOURS[past_slot % len(SLOT_HOURS)]
                if hour is None and started:
                    # one job in progress per vendor at most (it holds the vendor's time now): a
                    # second becomes a confirmed job after all the others
                    status = BookingStatus.CONFIRMED
                    day_offset = 2 + future // len(SLOT_HOURS) + extra // len(SLOT_HOURS)
                    hour = SLOT_HOURS[extra % len(SLOT_HOURS)]
                    extra += 1
                if hour is None:
                    started = True
                    start = (self.now - timedelta(minutes=30 + vendor_index % 60)).replace(second=0, microsecond=0)
                else:
                    start = datetime.combine(today + timedelta(days=day_offset), dt_time(hour), tzinfo=zone)
                slug = SERVICES[(vendor_index + slot) % len(SERVICES)]
                template = self.templates[slug]
                booking_id = uuid.uuid4()
                customer_id = customers[self.random.randrange(len(customers))]
                booking_rows.append(
                    self._booking_row(
                        template["booking"], booking_id, made, customer_id, vendor_id, status, start, home
                    )
                )
                line_rows.append(self._row(BookingLine, **{**_values(template["line"]), "booking_id": booking_id}))
                attempt_id = uuid.uuid4()
                attempt_rows.append(self._attempt_row(template["attempt"], attempt_id, booking_id, status, start))
                if status in COLLECTED:
                    for txn, lines in template["transactions"]:
                        txn_id = uuid.uuid4()
                        txn_rows.append(
                            self._row(
                                LedgerTransaction,
                                **{
                                    **_values(txn),
                                    "id": txn_id,
                                    "booking_id": booking_id,
                                    "attempt_id": attempt_id,
                                    "idempotency_key": txn.idempotency_key.replace(
                                        str(template["attempt"].pk), str(attempt_id)
                                    ).replace(str(template["booking"].pk), str(booking_id)),
                                    "created_at": start + timedelta(hours=2),
                                    "created_by_id": None,
                                },
                            )
                        )
                        key = cash_vendor_accounts.setdefault(vendor_id, str(vendor_id))
                        ledger_rows.extend(
                            self._row(
                                LedgerLine,
                                transaction_id=txn_id,
                                account=account.replace(template["vendor_key"], key),
                                amount=amount,
                                currency=currency,
                            )
                            for account, amount, currency in lines
                        )
                made += 1
            if len(booking_rows) >= 50_000:
                self._flush(booking_rows, line_rows, attempt_rows, txn_rows, ledger_rows)
                self.stdout.write(f"  {made} bookings")
        self._flush(booking_rows, line_rows, attempt_rows, txn_rows, ledger_rows)
        return made

    def _flush(self, bookings, lines, attempts, transactions, ledger_lines):
        self._copy(Booking, bookings)
        self._copy(BookingLine, lines, pk=False)
        self._copy(PaymentAttempt, attempts)
        self._copy(LedgerTransaction, transactions)
        self._copy(LedgerLine, ledger_lines, pk=False)
        for rows in (bookings, lines, attempts, transactions, ledger_lines):
            rows.clear()

    def _booking_row(self, template, booking_id, number, customer_id, vendor_id, status, start, pincode):
        duration = template.ends_at - template.scheduled_at
        buffer = template.blocked_until - template.ends_at
        created = start - timedelta(days=2)
        lat, lng = pincode_coordinates(pincode)
        values = {
            **_values(template),
            "id": booking_id,
            "booking_number": f"BB-{number:012d}",
            "customer_id": customer_id,
            "vendor_id": vendor_id,
            "vendor_chosen_by_customer": True,
            "status": status,
            "scheduled_at": start,
            "ends_at": start + duration,
            "blocked_until": start + duration + buffer,
            "address_line1": f"{number % 500 + 1}, Bench Layout",
            "address_line2": "",
            "address_city": "Bengaluru",
            "address_pincode": pincode,
            "address_lat": lat,
            "address_lng": lng,
            "ready_at": created,
            "offer_round_started_at": created,
            "needs_manual_assignment": False,
            "cancelled_by": "",
            "cancellation_reason": "",
            "cancellation_fee": None,
            "refund_amount": None,
            "confirmed_at": None,
            "started_at": None,
            "completed_at": None,
            "cancelled_at": None,
            "created_at": created,
            "updated_at": self.now,
        }
        if status not in (BookingStatus.PENDING, BookingStatus.EXPIRED, BookingStatus.CANCELLED):
            values["confirmed_at"] = created + timedelta(minutes=20)
        if status in (
            BookingStatus.IN_PROGRESS,
            BookingStatus.COMPLETED,
            BookingStatus.AWAITING_SIGNATURE,
            BookingStatus.SIGNED,
            BookingStatus.DISPUTED,
        ):
            values["started_at"] = start
        if status in (
            BookingStatus.COMPLETED,
            BookingStatus.AWAITING_SIGNATURE,
            BookingStatus.SIGNED,
            BookingStatus.DISPUTED,
        ):
            values["completed_at"] = start + duration
        if status == BookingStatus.CANCELLED:
            values.update(
                cancelled_by="customer",
                cancellation_reason="Plans changed",
                cancellation_fee=Decimal("0.00"),
                refund_amount=Decimal("0.00"),
                cancelled_at=created + timedelta(hours=3),
                vendor_chosen_by_customer=True,
            )
        return self._row(Booking, **values)

    def _attempt_row(self, template, attempt_id, booking_id, status, start):
        values = {
            **_values(template),
            "id": attempt_id,
            "booking_id": booking_id,
            "created_at": start - timedelta(days=2),
        }
        if status in COLLECTED:
            values.update(status="captured", amount_captured=template.amount, captured_at=start + timedelta(hours=2))
        else:
            values.update(status="authorized", amount_captured=Decimal("0.00"), captured_at=None, authorized_at=None)
        if status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
            values.update(status="cancelled", is_active=False, ended_at=start - timedelta(days=1))
        values.update(gateway_intent_id="", updated_at=self.now)
        return self._row(PaymentAttempt, **values)

    def _pick(self, choices):
        roll = self.random.random() * sum(share for _status, share in choices)
        for status, share in choices:
            roll -= share
            if roll <= 0:
                return status
        return choices[-1][0]

    # --- COPY ------------------------------------------------------------------------------------

    def _row(self, model, **values):
        """The model's columns in order, as database values; fields not given take their default."""
        row = []
        for field in _copy_fields(model):
            # Not given: the field's default ("" for a string without one, else None).
            value = values[field.attname] if field.attname in values else field.get_default()
            row.append(field.get_db_prep_save(value, connection))
        return row

    def _copy(self, model, rows, *, pk=True):
        """COPY ``rows`` (from ``_row``) into the model's table; ``pk=False`` leaves the
        auto-increment key to the database."""
        fields = _copy_fields(model)
        keep = [index for index, field in enumerate(fields) if pk or not field.primary_key]
        columns = ", ".join(f'"{fields[index].column}"' for index in keep)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row([row[index] for index in keep])


def _copy_fields(model):
    return list(model._meta.concrete_fields)


def _values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}
