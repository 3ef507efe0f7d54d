import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import MONEY_DIGITS, MONEY_PLACES, RATE_DIGITS, RATE_PLACES, VendorProfile
from core.validators import validate_pincode


def money_field(**kwargs):
    kwargs.setdefault("default", Decimal("0.00"))
    return models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, **kwargs)


class ServiceCategory(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = _("service categories")

    def __str__(self):
        return self.name


class Service(models.Model):
    category = models.ForeignKey(ServiceCategory, on_delete=models.PROTECT, related_name="services")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    base_price = money_field(validators=[MinValueValidator(0)])
    duration_minutes = models.PositiveIntegerField(validators=[MinValueValidator(15)])
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["category__position", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(base_price__gte=0), name="service_price_gte_0"),
            models.CheckConstraint(condition=models.Q(duration_minutes__gte=15), name="service_duration_min"),
        ]

    def __str__(self):
        return self.name


class VendorService(models.Model):
    """A service a vendor offers, at the vendor's own price."""

    vendor = models.ForeignKey(VendorProfile, on_delete=models.CASCADE, related_name="services")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="vendor_offers")
    price = money_field(validators=[MinValueValidator(0)])
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vendor", "service"], name="vendor_service_unique"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="vendor_price_gte_0"),
        ]
        indexes = [models.Index(fields=["service", "is_active"])]

    def __str__(self):
        return f"{self.vendor} · {self.service} · {self.price}"


class VendorSearchEntry(models.Model):
    """The vendor-search index: one row per bookable vendor × active service they offer × pincode
    they cover (their own list, plus every known pincode whose centre lies inside their radius),
    with what the search filters and sorts by. Derived data, kept in step inside the transaction
    that changes its inputs (bookings/search_index.py) and rebuilt whole by ``manage.py
    search_index_rebuild``. It turns "which of 10,000 vendors serve this pincode, best first" from a
    distance computed per vendor into one ordered index range."""

    vendor = models.ForeignKey(VendorProfile, on_delete=models.CASCADE, related_name="search_entries")
    # No index of its own: the three below all start with it.
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+", db_index=False)
    pincode = models.CharField(max_length=6)
    price = money_field()
    rating_avg = models.DecimalField(max_digits=3, decimal_places=2)
    rating_count = models.PositiveIntegerField()
    # From the vendor's base to the pincode's centre; null when either is unknown.
    distance_km = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "pincode", "vendor"], name="vendor_search_entry_unique"),
        ]
        indexes = [
            # The orders the search offers; the default (best rated first) reads the index in order.
            models.Index(
                fields=["service", "pincode", "-rating_avg", "-rating_count", "vendor"], name="vendor_search_by_rating"
            ),
            models.Index(fields=["service", "pincode", "price", "vendor"], name="vendor_search_by_price"),
            models.Index(fields=["service", "pincode", "distance_km", "vendor"], name="vendor_search_by_distance"),
        ]

    def __str__(self):
        return f"{self.vendor_id} · {self.service_id} · {self.pincode}"


class BookingStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CONFIRMED = "confirmed", _("Confirmed")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    AWAITING_SIGNATURE = "awaiting_signature", _("Awaiting signature")
    SIGNED = "signed", _("Signed")
    DISPUTED = "disputed", _("Disputed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


# The statuses in which a booking holds its vendor's time: no two may overlap (§5).
SLOT_HOLDING_STATUSES = (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.IN_PROGRESS)
# The statuses a booking reaches once a vendor has confirmed it: the two parties see each other's
# contacts (§3), and the dashboard counts it as accepted.
VENDOR_CONFIRMED_STATUSES = (
    BookingStatus.CONFIRMED,
    BookingStatus.IN_PROGRESS,
    BookingStatus.COMPLETED,
    BookingStatus.AWAITING_SIGNATURE,
    BookingStatus.SIGNED,
    BookingStatus.DISPUTED,
)

ALLOWED_TRANSITIONS = {
    BookingStatus.PENDING: {BookingStatus.CONFIRMED, BookingStatus.CANCELLED, BookingStatus.EXPIRED},
    # confirmed → pending: the booking goes back to offers (vendor cancelled, or a reschedule
    # the vendor cannot take); the customer keeps the slot and the price (§4).
    BookingStatus.CONFIRMED: {BookingStatus.IN_PROGRESS, BookingStatus.CANCELLED, BookingStatus.PENDING},
    BookingStatus.IN_PROGRESS: {BookingStatus.COMPLETED, BookingStatus.CANCELLED},
    BookingStatus.COMPLETED: {BookingStatus.AWAITING_SIGNATURE, BookingStatus.SIGNED},
    BookingStatus.AWAITING_SIGNATURE: {
        BookingStatus.SIGNED,
        BookingStatus.DISPUTED,
        BookingStatus.CANCELLED,
    },
    BookingStatus.SIGNED: {BookingStatus.DISPUTED},
    BookingStatus.DISPUTED: {BookingStatus.SIGNED, BookingStatus.CANCELLED},
    BookingStatus.CANCELLED: set(),
    BookingStatus.EXPIRED: set(),
}


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card")
    CASH = "cash", _("Cash")


class CancelledBy(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    VENDOR = "vendor", _("Vendor")
    OPS = "ops", _("Operations")
    SYSTEM = "system", _("System")


class TsTzRange(models.Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()  # only used inside the PostgreSQL constraint


class PostgresOnlyExclusionConstraint(ExclusionConstraint):
    """An exclusion constraint that exists on PostgreSQL and is skipped elsewhere.

    SQLite has no exclusion constraints; there the booking service's check under the database
    write lock is what prevents overlaps (see bookings/services/creation.py).
    """

    def constraint_sql(self, model, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().constraint_sql(model, schema_editor)

    def create_sql(self, model, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().create_sql(model, schema_editor)

    def remove_sql(self, model, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().remove_sql(model, schema_editor)

    def validate(self, *args, **kwargs):
        # Overlaps are checked by the service under a lock and, on PostgreSQL, by the database.
        return None


class BookingNumberCounter(models.Model):
    """Per-day counter behind BK-YYYYMMDD-NNNNNN; its row is locked while a number is taken."""

    day = models.DateField(primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.day}: {self.last_value}"


class Booking(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking_number = models.CharField(max_length=20, unique=True)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings")
    # The vendor holding the slot: the chosen vendor or the one currently offered the booking.
    vendor = models.ForeignKey(VendorProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="bookings")
    vendor_chosen_by_customer = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=BookingStatus.choices, default=BookingStatus.PENDING)
    scheduled_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # ends_at + travel buffer: the vendor's time is held over [scheduled_at, blocked_until).
    blocked_until = models.DateTimeField()
    notes = models.TextField(blank=True, max_length=1000)
    payment_method = models.CharField(max_length=10, choices=PaymentMethod.choices)

    # Address snapshot (§5): later edits to a saved address never change a booking.
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    address_city = models.CharField(max_length=100)
    address_pincode = models.CharField(max_length=6, validators=[validate_pincode])
    address_lat = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    address_lng = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)

    # Price snapshot (§4): fixed at creation.
    currency = models.CharField(max_length=3)
    subtotal = money_field()
    discount = money_field()
    tax = money_field()
    total = money_field()
    commission = money_field()
    vendor_earning = money_field()
    platform_fee = money_field()
    tax_rate = models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES)
    commission_rate = models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES)
    promo_code = models.ForeignKey(
        "PromoCode", null=True, blank=True, on_delete=models.PROTECT, related_name="bookings"
    )

    # Readiness and assignment (§5).
    ready_at = models.DateTimeField(null=True, blank=True)
    # Offers sent since this moment count towards the attempt limit; a re-offer starts a round.
    offer_round_started_at = models.DateTimeField(null=True, blank=True)
    # Why the current round began: "" (first round), "vendor_cancelled" or "rescheduled".
    offer_round_reason = models.CharField(max_length=20, blank=True)
    needs_manual_assignment = models.BooleanField(default=False)

    reschedule_count = models.PositiveSmallIntegerField(default=0)

    # Cancellation outcome per the policy windows; the money moves in payments.
    cancelled_by = models.CharField(max_length=10, choices=CancelledBy.choices, blank=True)
    cancellation_reason = models.CharField(max_length=500, blank=True)
    cancellation_fee = money_field(null=True, blank=True, default=None)
    refund_amount = money_field(null=True, blank=True, default=None)

    confirmed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-scheduled_at"]
        indexes = [
            models.Index(fields=["customer", "-scheduled_at"]),
            models.Index(fields=["vendor", "scheduled_at"]),
            models.Index(fields=["status", "scheduled_at"]),
            models.Index(fields=["address_pincode"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("scheduled_at")), name="booking_ends_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(blocked_until__gte=models.F("ends_at")),
                name="booking_blocked_covers_visit",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    subtotal__gte=0,
                    discount__gte=0,
                    tax__gte=0,
                    total__gte=0,
                    commission__gte=0,
                    vendor_earning__gte=0,
                ),
                name="booking_amounts_gte_0",
            ),
            models.CheckConstraint(
                condition=models.Q(discount__lte=models.F("subtotal")),
                name="booking_discount_lte_subtotal",
            ),
            PostgresOnlyExclusionConstraint(
                name="booking_no_vendor_overlap",
                expressions=[
                    (
                        TsTzRange("scheduled_at", "blocked_until", RangeBoundary()),
                        RangeOperators.OVERLAPS,
                    ),
                    ("vendor", RangeOperators.EQUAL),
                ],
                condition=models.Q(status__in=SLOT_HOLDING_STATUSES, vendor__isnull=False),
            ),
        ]

    def __str__(self):
        return self.booking_number

    @property
    def holds_slot(self):
        return self.status in SLOT_HOLDING_STATUSES and self.vendor_id is not None


class BookingLine(models.Model):
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="lines")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="+")
    service_name = models.CharField(max_length=120)
    quantity = models.PositiveSmallIntegerField(default=1)
    unit_price = money_field()
    duration_minutes = models.PositiveIntegerField()
    line_total = money_field()

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gte=1), name="line_quantity_gte_1")]

    def __str__(self):
        return f"{self.quantity} × {self.service_name}"


class BookingEvent(models.Model):
    """The booking's timeline: who did what, when, and from which status to which."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    event = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.event} {self.from_status}→{self.to_status}"


class OfferOutcome(models.TextChoices):
    PENDING = "pending", _("Waiting for the vendor")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    CANCELLED = "cancelled", _("Accepted, then cancelled by the vendor")


class BookingOffer(models.Model):
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="offers")
    vendor = models.ForeignKey(VendorProfile, on_delete=models.PROTECT, related_name="offers")
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=OfferOutcome.choices, default=OfferOutcome.PENDING)
    responded_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    score = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["sent_at", "id"]
        indexes = [models.Index(fields=["outcome", "expires_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["booking"],
                condition=models.Q(outcome="pending"),
                name="offer_one_open_per_booking",
            )
        ]

    def __str__(self):
        return f"{self.booking} → {self.vendor} ({self.outcome})"


class PromoKind(models.TextChoices):
    PERCENTAGE = "percentage", _("Percentage")
    FIXED = "fixed", _("Fixed amount")


class PromoCode(models.Model):
    code = models.CharField(max_length=32, unique=True)
    description = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=12, choices=PromoKind.choices)
    value = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, validators=[MinValueValidator(0)])
    min_order = money_field(validators=[MinValueValidator(0)])
    max_discount = money_field(null=True, blank=True, default=None)
    per_user_limit = models.PositiveIntegerField(null=True, blank=True, default=1)
    global_limit = models.PositiveIntegerField(null=True, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(value__gte=0), name="promo_value_gte_0"),
            models.CheckConstraint(
                condition=~models.Q(kind="percentage") | models.Q(value__lte=100),
                name="promo_percentage_lte_100",
            ),
        ]

    def __str__(self):
        return self.code


class PromoRedemption(models.Model):
    promo = models.ForeignKey(PromoCode, on_delete=models.PROTECT, related_name="redemptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, related_name="promo_redemption")
    discount = money_field()
    # A cancelled booking gives the use back (released), so limits count only live redemptions.
    released = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["promo", "user"])]

    def __str__(self):
        return f"{self.promo} on {self.booking}"


class ReminderKind(models.TextChoices):
    DAY_BEFORE = "24h", _("24 hours before")
    HOUR_BEFORE = "1h", _("1 hour before")


class ReminderRecipient(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    VENDOR = "vendor", _("Vendor")


class BookingReminder(models.Model):
    """A reminder that went out: the marker that makes each one go out once per person.

    The unique constraint, not an ``exists()`` check, is the guard: a sweep inserts the marker
    first and tells the person only when the insert succeeded. It is keyed on the person rather
    than the role so that a vendor who takes a booking over still gets the reminders the previous
    vendor already had, while the customer never gets one twice (bookings/services/reminders.py).
    """

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=3, choices=ReminderKind.choices)
    recipient = models.CharField(max_length=10, choices=ReminderRecipient.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The start the reminder announced (a later reschedule does not change it).
    starts_at = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["booking", "kind", "user"], name="booking_reminder_once_per_person")
        ]

    def __str__(self):
        return f"{self.booking} {self.kind} → {self.recipient}"


class PhotoKind(models.TextChoices):
    BEFORE = "before", _("Before")
    AFTER = "after", _("After")


class BookingPhoto(models.Model):
    """A before/after photo of a job (ARCHITECTURE §7). The stored file is our re-encoding of
    the upload (decoded and checked, EXIF location dropped); ``sha256`` is of that stored file and
    goes into the signature's hash, so a swapped photo breaks verification."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="photos")
    kind = models.CharField(max_length=6, choices=PhotoKind.choices)
    image = models.ImageField(upload_to="booking-photos/%Y/%m/")
    thumbnail = models.ImageField(upload_to="booking-photos/thumbs/%Y/%m/", blank=True)
    sha256 = models.CharField(max_length=64)
    caption = models.CharField(max_length=200, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["booking", "kind"])]

    def __str__(self):
        return f"{self.booking_id} {self.kind}"


MESSAGE_MAX_LENGTH = 2000


class Message(models.Model):
    """A chat message between a booking's customer and the vendor holding it (ARCHITECTURE §8).
    Written only through ``bookings.services.chat.message_post``; ops read the thread (disputes).
    ``notified_at``: when the recipient was told it was waiting unread (once per message)."""

    id = models.BigAutoField(primary_key=True)
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=MESSAGE_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["booking", "id"]),
            models.Index(fields=["sender", "created_at"]),
            # the unread-message sweep reads only what waits unread and untold
            models.Index(
                fields=["created_at"],
                condition=models.Q(read_at__isnull=True, notified_at__isnull=True),
                name="message_waiting_unread",
            ),
        ]

    def __str__(self):
        return f"{self.booking_id} #{self.pk}"
