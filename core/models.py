import uuid
from decimal import Decimal

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.validators import validate_e164, validate_pincode

MONEY_DIGITS = 12
MONEY_PLACES = 2
RATE_DIGITS = 6
RATE_PLACES = 4


class Role(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    VENDOR = "vendor", _("Vendor")
    ONBOARD_MANAGER = "onboard_manager", _("Onboarding manager")
    OPS_MANAGER = "ops_manager", _("Operations manager")
    SUPER_ADMIN = "super_admin", _("Super admin")


STAFF_ROLES = {Role.ONBOARD_MANAGER, Role.OPS_MANAGER, Role.SUPER_ADMIN}


class MarketplaceUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        # `manage.py createsuperuser` makes a super_admin, so role-based checks agree with is_superuser.
        extra_fields.setdefault("role", Role.SUPER_ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("email address"), blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CUSTOMER)
    phone = models.CharField(_("phone"), max_length=16, blank=True, default="", validators=[validate_e164])
    phone_verified = models.BooleanField(default=False)
    email_verified = models.BooleanField(default=False)
    # Channel preferences for notifications (the in-app list is always kept).
    notify_sms = models.BooleanField(_("SMS notifications"), default=True)
    notify_email = models.BooleanField(_("e-mail notifications"), default=True)
    # Set when the person deleted their account (core/privacy.py): the row stays, because
    # bookings, payments, signatures and the audit log point at it, but it names nobody any more.
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True, editable=False)

    objects = MarketplaceUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique", condition=~models.Q(email="")),
            models.UniqueConstraint(fields=["phone"], name="user_phone_unique", condition=~models.Q(phone="")),
        ]

    def __str__(self):
        return self.get_full_name() or self.username

    @property
    def is_customer(self):
        return self.role == Role.CUSTOMER

    @property
    def is_vendor(self):
        return self.role == Role.VENDOR

    @property
    def is_ops(self):
        return self.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN)


class OnboardingStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    SUSPENDED = "suspended", _("Suspended")


def validate_working_hours(value):
    """``{"0": [["09:00", "13:00"], ["14:00", "18:00"]], ...}``; keys are ISO weekdays - 1
    (0 = Monday), intervals are local wall-clock times, sorted and not overlapping."""
    if not isinstance(value, dict):
        raise ValidationError(_("Working hours must be an object keyed by weekday 0-6."))
    for day, intervals in value.items():
        if str(day) not in {str(d) for d in range(7)}:
            raise ValidationError(_("Unknown weekday %(day)s (use 0=Monday … 6=Sunday)."), params={"day": day})
        if not isinstance(intervals, list):
            raise ValidationError(_("Each weekday holds a list of [start, end] intervals."))
        previous_end = None
        for interval in intervals:
            if not (isinstance(interval, list | tuple) and len(interval) == 2):
                raise ValidationError(_('An interval is a pair ["HH:MM", "HH:MM"].'))
            try:
                start, end = (_parse_hhmm(part) for part in interval)
            except (TypeError, ValueError):
                raise ValidationError(_("Times are written HH:MM.")) from None
            if start >= end:
                raise ValidationError(_("An interval must end after it starts."))
            if previous_end is not None and start < previous_end:
                raise ValidationError(_("Intervals must be sorted and must not overlap."))
            previous_end = end


def _parse_hhmm(text):
    hours, minutes = str(text).split(":")
    hours, minutes = int(hours), int(minutes)
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(text)
    return hours * 60 + minutes


class VendorProfile(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="vendor_profile")
    display_name = models.CharField(max_length=120)
    bio = models.TextField(blank=True, max_length=2000)
    experience_years = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(70)])
    base_lat = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    base_lng = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    radius_km = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        default=Decimal("10.0"),
        validators=[MinValueValidator(0), MaxValueValidator(200)],
    )
    working_hours = models.JSONField(default=dict, blank=True, validators=[validate_working_hours])
    is_available = models.BooleanField(default=True)
    onboarding_status = models.CharField(
        max_length=20, choices=OnboardingStatus.choices, default=OnboardingStatus.PENDING
    )
    rating_avg = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.00"))
    rating_count = models.PositiveIntegerField(default=0)
    payout_account_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["onboarding_status", "is_available"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(rating_avg__gte=0, rating_avg__lte=5), name="vendor_rating_range")
        ]

    def __str__(self):
        return self.display_name

    @property
    def is_bookable(self):
        return self.onboarding_status == OnboardingStatus.APPROVED and self.is_available


class VendorPincode(models.Model):
    """A pincode the vendor serves, besides anything inside their radius."""

    vendor = models.ForeignKey(VendorProfile, on_delete=models.CASCADE, related_name="pincodes")
    pincode = models.CharField(max_length=6, validators=[validate_pincode])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["vendor", "pincode"], name="vendor_pincode_unique")]
        indexes = [models.Index(fields=["pincode"])]

    def __str__(self):
        return self.pincode


class VendorTimeOff(models.Model):
    vendor = models.ForeignKey(VendorProfile, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")), name="time_off_positive")
        ]

    def __str__(self):
        return f"{self.vendor} off {self.starts_at:%Y-%m-%d %H:%M}"


class DocumentKind(models.TextChoices):
    ID_PROOF = "id_proof", _("Identity proof")
    ADDRESS_PROOF = "address_proof", _("Address proof")
    CERTIFICATE = "certificate", _("Trade certificate")
    OTHER = "other", _("Other")


class DocumentStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


def vendor_document_path(instance, filename):
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"vendor-documents/{instance.vendor_id}/{uuid.uuid4().hex}.{suffix}"


class VendorDocument(models.Model):
    vendor = models.ForeignKey(VendorProfile, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    file = models.FileField(upload_to=vendor_document_path)
    status = models.CharField(max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    review_note = models.CharField(max_length=500, blank=True)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.get_status_display()})"


class Address(models.Model):
    """A saved address of a customer (``/api/users/me/addresses/``; services in core/addresses.py).

    A booking copies the address into its own columns when it is made, so editing or deleting a
    saved address never changes a booking. At most one default per user (a partial unique index);
    coordinates are optional and, when given, come as a pair inside their ranges."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(max_length=40, blank=True)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    pincode = models.CharField(max_length=6, validators=[validate_pincode])
    lat = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    lng = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "-created_at", "-id"]
        verbose_name_plural = _("addresses")
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(is_default=True),
                name="address_one_default_per_user",
            ),
            models.CheckConstraint(
                condition=models.Q(lat__isnull=True, lng__isnull=True)
                | models.Q(lat__gte=-90, lat__lte=90, lng__gte=-180, lng__lte=180),
                name="address_coordinates_pair_in_range",
            ),
        ]

    def __str__(self):
        return f"{self.line1}, {self.city} {self.pincode}"


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")


class AuditLog(models.Model):
    """Append-only record of every state change: rows are inserted, never updated or deleted."""

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    old_values = models.JSONField(default=dict, blank=True)
    new_values = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        # Enforcing append-only here is an integrity guard, not business logic.
        if not self._state.adding:
            raise PermissionError("The audit log is append-only.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")


class SystemSettings(models.Model):
    """The one row of platform rates, windows and limits (ARCHITECTURE §4–5).

    Bookings snapshot the rates they were priced with, so editing them never changes a past price.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    tax_rate = models.DecimalField(
        max_digits=RATE_DIGITS,
        decimal_places=RATE_PLACES,
        default=Decimal("0.18"),
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )
    commission_rate = models.DecimalField(
        max_digits=RATE_DIGITS,
        decimal_places=RATE_PLACES,
        default=Decimal("0.15"),
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )
    free_cancel_minutes_after_booking = models.PositiveIntegerField(default=5)
    free_cancel_hours_before = models.PositiveIntegerField(default=24)
    full_fee_hours_before = models.PositiveIntegerField(
        default=6, help_text=_("Under this many hours before the start, 100% is kept.")
    )
    late_cancel_fee_percent = models.PositiveSmallIntegerField(default=50, validators=[MaxValueValidator(100)])
    reschedule_min_hours_before = models.PositiveIntegerField(default=24)
    max_reschedules = models.PositiveSmallIntegerField(default=2)
    min_notice_hours = models.PositiveIntegerField(default=2)
    max_days_ahead = models.PositiveIntegerField(default=30)
    offer_timeout_minutes = models.PositiveIntegerField(default=15)
    max_offer_attempts = models.PositiveSmallIntegerField(default=3)
    unpaid_expiry_minutes = models.PositiveIntegerField(default=15)
    travel_buffer_minutes = models.PositiveIntegerField(default=30)
    slot_step_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(240)]
    )
    start_early_minutes = models.PositiveIntegerField(
        default=60, help_text=_("How long before the scheduled start a vendor may start the job.")
    )
    payout_hold_hours = models.PositiveIntegerField(default=24)
    signature_expiry_hours = models.PositiveIntegerField(default=48)
    signature_auto_request_hours = models.PositiveIntegerField(default=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("system settings")
        verbose_name_plural = _("system settings")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="settings_singleton")]

    def __str__(self):
        return str(_("System settings"))

    @classmethod
    def load(cls):
        obj, _created = cls.objects.get_or_create(id=1)
        return obj


class Notification(models.Model):
    """Something we told a user. Stored for the in-app list and pushed on ``ws/notifications/``;
    SMS and e-mail copies are sent according to the user's preferences."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=60)
    title = models.CharField(max_length=200)
    body = models.TextField(max_length=2000)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"])]

    def __str__(self):
        return f"{self.kind} → {self.user_id}"


class DeliveryChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class NotificationDelivery(models.Model):
    """One SMS or e-mail copy of a notification (or a one-time code, which has no notification),
    and what became of it. The row is the send's idempotency guard: a task claims it while it is
    ``pending`` (or ``sending`` with a lapsed lease), so running the task twice never sends twice.
    ``failed`` rows are for ops: ``last_error``/``error_code`` say why."""

    id = models.BigAutoField(primary_key=True)
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=DeliveryChannel.choices)
    kind = models.CharField(max_length=60)
    # The phone number or e-mail address at the time of sending.
    to = models.CharField(max_length=254)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_id = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("notification deliveries")
        indexes = [models.Index(fields=["status", "updated_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"],
                condition=models.Q(notification__isnull=False),
                name="delivery_one_per_notification_channel",
            )
        ]

    def __str__(self):
        return f"{self.channel} {self.kind} → {self.to} ({self.status})"


class PhoneOTP(models.Model):
    """A one-time code sent to a phone number (ARCHITECTURE §11). Only a keyed hash of the code
    is stored; the plain code exists in the SMS alone."""

    id = models.BigAutoField(primary_key=True)
    phone = models.CharField(max_length=16, validators=[validate_e164])
    code_hash = models.CharField(max_length=64)
    salt = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    # Set when a newer code was sent to the same number: only the newest code counts.
    superseded_at = models.DateTimeField(null=True, blank=True)
    delivery = models.OneToOneField(
        NotificationDelivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="otp"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("phone one-time code")
        indexes = [models.Index(fields=["phone", "created_at"])]

    def __str__(self):
        return f"OTP {self.phone} {self.created_at:%Y-%m-%d %H:%M}"


class PhoneOTPLock(models.Model):
    """One row per phone number that has asked for a code. Sends for a number lock its row, so
    the per-hour send limit counted on ``PhoneOTP`` holds under concurrent requests, even for a
    number with no code yet (there is no other row to lock then)."""

    phone = models.CharField(max_length=16, unique=True)

    def __str__(self):
        return self.phone


class ContactStatus(models.TextChoices):
    NEW = "new", _("New")
    READ = "read", _("Read")
    REPLIED = "replied", _("Replied")
    RESOLVED = "resolved", _("Resolved")


class ContactMessage(models.Model):
    """A message sent with the contact form (``POST /api/contact/``, core/contact.py). Ops work
    it in the admin (core/admin_contact.py): status and notes only, every change audited, never
    deleted. ``user`` is the account that sent it, when the sender was signed in."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="contact_messages", editable=False
    )
    name = models.CharField(_("name"), max_length=120)
    email = models.EmailField(_("e-mail address"), max_length=254)
    subject = models.CharField(_("subject"), max_length=200)
    message = models.TextField(_("message"), max_length=5000)
    status = models.CharField(_("status"), max_length=10, choices=ContactStatus.choices, default=ContactStatus.NEW)
    ops_notes = models.TextField(_("ops notes"), blank=True, max_length=5000)
    handled_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(_("received at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("contact message")
        verbose_name_plural = _("contact messages")
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self):
        return f"{self.subject} ({self.get_status_display()})"
