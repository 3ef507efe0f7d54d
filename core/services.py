"""Use cases for users and vendors. Every state change goes through a function here."""

from datetime import timedelta

from django.contrib.auth import password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.accounts import email_verification_send
from core.audit import audit_record
from core.documents import document_check
from core.errors import InvalidInput
from core.models import (
    STAFF_ROLES,
    DocumentKind,
    OnboardingStatus,
    Role,
    User,
    VendorDocument,
    VendorPincode,
    VendorProfile,
    VendorTimeOff,
)

# Staff roles are Django groups (created by core/migrations/0002_staff_groups.py).
ROLE_GROUPS = {
    Role.ONBOARD_MANAGER: "onboard_manager",
    Role.OPS_MANAGER: "ops_manager",
    Role.SUPER_ADMIN: "super_admin",
}


def _validation_fields(error: ValidationError, field: str):
    return {field: list(error.messages)}


def _unique_username(base: str) -> str:
    base = base[:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    role: str = Role.CUSTOMER,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    username: str | None = None,
    actor: User | None = None,
) -> User:
    """Create an account. Self-service sign-up may only make customers and vendors; staff roles
    are given by ``user_set_role`` (super_admin) or the seed command."""
    email = (email or "").strip()
    if User.objects.filter(email__iexact=email).exists():
        raise InvalidInput(fields={"email": [_("An account with this e-mail already exists.")]})
    if phone and User.objects.filter(phone=phone).exists():
        raise InvalidInput(fields={"phone": [_("An account with this phone number already exists.")]})
    user = User(
        username=username or _unique_username(email.split("@")[0].lower()),
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        role=role,
    )
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise InvalidInput(fields=_validation_fields(error, "password")) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Lost a race with a concurrent sign-up for the same e-mail or phone.
        raise InvalidInput(fields={"email": [_("An account with this e-mail already exists.")]}) from None
    _sync_staff_flags(user)
    if role == Role.VENDOR:
        VendorProfile.objects.create(user=user, display_name=f"{first_name} {last_name}".strip() or user.username)
    audit_record(actor=actor or user, action="user.register", obj=user, new={"role": role})
    # The address is proved by the link (core/accounts.py); until then receipts stay in-app.
    email_verification_send(user=user)
    return user


def _sync_staff_flags(user: User):
    user.is_staff = user.role in STAFF_ROLES
    user.is_superuser = user.role == Role.SUPER_ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])
    wanted = ROLE_GROUPS.get(user.role)
    user.groups.set(Group.objects.filter(name=wanted) if wanted else [])


@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User) -> User:
    old = user.role
    user.role = role
    user.save(update_fields=["role"])
    _sync_staff_flags(user)
    audit_record(actor=actor, action="user.set_role", obj=user, old={"role": old}, new={"role": role})
    return user


USER_EDITABLE_FIELDS = ("first_name", "last_name", "email", "phone", "notify_sms", "notify_email")


@transaction.atomic
def user_update(*, user: User, actor: User, **changes) -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    old, new = {}, {}
    for field, value in changes.items():
        if field not in USER_EDITABLE_FIELDS or getattr(user, field) == value:
            continue
        if field == "email" and User.objects.filter(email__iexact=value).exclude(pk=user.pk).exists():
            raise InvalidInput(fields={"email": [_("An account with this e-mail already exists.")]})
        if field == "phone" and value and User.objects.filter(phone=value).exclude(pk=user.pk).exists():
            raise InvalidInput(fields={"phone": [_("An account with this phone number already exists.")]})
        old[field], new[field] = getattr(user, field), value
        setattr(user, field, value)
    # A new address must be proved again; the same address in other letter case need not be.
    if "email" in new and str(new["email"]).lower() != str(old["email"]).lower():
        user.email_verified = False
        new["email_verified"] = False
    if "phone" in new:
        user.phone_verified = False
        new["phone_verified"] = False
    if new:
        try:
            with transaction.atomic():
                user.save(update_fields=[*new.keys()])
        except IntegrityError:
            # Lost a race with another account claiming the same e-mail or phone.
            field = "email" if "email" in new else "phone"
            raise InvalidInput(fields={field: [_("An account with this value already exists.")]}) from None
        audit_record(actor=actor, action="user.update", obj=user, old=old, new=new)
        if new.get("email_verified") is False:
            email_verification_send(user=user)
    return user


VENDOR_EDITABLE_FIELDS = (
    "display_name",
    "bio",
    "experience_years",
    "base_lat",
    "base_lng",
    "radius_km",
    "working_hours",
    "is_available",
)


@transaction.atomic
def vendor_profile_update(*, vendor: VendorProfile, actor: User, pincodes=None, **changes):
    vendor = VendorProfile.objects.select_for_update().get(pk=vendor.pk)
    old, new = {}, {}
    for field, value in changes.items():
        if field not in VENDOR_EDITABLE_FIELDS or getattr(vendor, field) == value:
            continue
        old[field], new[field] = getattr(vendor, field), value
        setattr(vendor, field, value)
    if new:
        try:
            vendor.full_clean(exclude=["user"])
        except ValidationError as error:
            raise InvalidInput(fields=error.message_dict) from None
        vendor.save(update_fields=[*new.keys(), "updated_at"])
    if pincodes is not None:
        current = set(vendor.pincodes.values_list("pincode", flat=True))
        wanted = set(pincodes)
        if wanted != current:
            vendor.pincodes.exclude(pincode__in=wanted).delete()
            VendorPincode.objects.bulk_create(
                [VendorPincode(vendor=vendor, pincode=p) for p in sorted(wanted - current)]
            )
            from bookings.search_index import search_entries_refresh  # bulk_create sends no signal

            search_entries_refresh([vendor.pk])
            old["pincodes"], new["pincodes"] = sorted(current), sorted(wanted)
    if new:
        audit_record(actor=actor, action="vendor.update", obj=vendor, old=old, new=new)
    return vendor


@transaction.atomic
def vendor_set_onboarding_status(*, vendor: VendorProfile, status: str, actor: User, reason: str = ""):
    vendor = VendorProfile.objects.select_for_update().get(pk=vendor.pk)
    if status == OnboardingStatus.APPROVED and not vendor.user.phone_verified:
        raise InvalidInput(_("A vendor must verify their phone number before approval."))
    old = vendor.onboarding_status
    if old == status:
        return vendor
    vendor.onboarding_status = status
    vendor.save(update_fields=["onboarding_status", "updated_at"])
    audit_record(
        actor=actor,
        action="vendor.onboarding",
        obj=vendor,
        old={"onboarding_status": old},
        new={"onboarding_status": status, "reason": reason},
    )
    return vendor


@transaction.atomic
def vendor_document_upload(*, vendor: VendorProfile, kind: str, file, actor: User) -> VendorDocument:
    """Store a document for onboarding to review. The file must be a PDF, JPEG, PNG or WebP by
    its content, at most 10 MB (``core.documents.document_check``: InvalidInput on ``file``, or
    PayloadTooLarge); nothing is written otherwise."""
    if kind not in DocumentKind.values:
        raise InvalidInput(fields={"kind": [_("Choose a document type.")]})
    document_check(file)
    document = VendorDocument.objects.create(vendor=vendor, kind=kind, file=file)
    audit_record(actor=actor, action="vendor.document_upload", obj=document, new={"kind": kind})
    return document


# How far ahead time off may start, and how long it may last: a year covers any holiday plan, and
# the bounds keep absurd input (year 9999, or 0183 with its pre-standard local offset) out of the
# calendar.
TIME_OFF_MAX_DAYS_AHEAD = 366


@transaction.atomic
def vendor_time_off_add(*, vendor: VendorProfile, actor: User, starts_at, ends_at, reason: str = "", now=None):
    """Block time in the vendor's calendar. Bookings already holding that time stay; the vendor
    cancels those separately if needed. Time off must end after it starts, must not be over
    already (it could block nothing), may start at most TIME_OFF_MAX_DAYS_AHEAD days ahead and
    last as long at most."""
    now = now or timezone.now()
    if ends_at <= starts_at:
        raise InvalidInput(fields={"ends_at": [_("Time off must end after it starts.")]})
    if ends_at <= now:
        raise InvalidInput(fields={"ends_at": [_("This time off is already over.")]})
    if starts_at > now + timedelta(days=TIME_OFF_MAX_DAYS_AHEAD):
        raise InvalidInput(fields={"starts_at": [_("Time off can start at most a year ahead.")]})
    if ends_at - starts_at > timedelta(days=TIME_OFF_MAX_DAYS_AHEAD):
        raise InvalidInput(fields={"ends_at": [_("Time off can last at most a year.")]})
    time_off = VendorTimeOff.objects.create(vendor=vendor, starts_at=starts_at, ends_at=ends_at, reason=reason)
    audit_record(
        actor=actor, action="vendor.time_off_add", obj=time_off, new={"starts_at": starts_at, "ends_at": ends_at}
    )
    return time_off


@transaction.atomic
def vendor_time_off_remove(*, time_off: VendorTimeOff, actor: User):
    audit_record(
        actor=actor,
        action="vendor.time_off_remove",
        obj=time_off,
        old={"starts_at": time_off.starts_at, "ends_at": time_off.ends_at},
    )
    time_off.delete()


@transaction.atomic
def user_mark_phone_verified(*, user: User, actor: User | None = None) -> User:
    """Record that the user proved they hold their phone number (by OTP, or by staff)."""
    if user.phone_verified:
        return user
    if not user.phone:
        raise InvalidInput(fields={"phone": [_("There is no phone number to verify.")]})
    user.phone_verified = True
    user.save(update_fields=["phone_verified"])
    audit_record(actor=actor or user, action="user.phone_verified", obj=user, new={"phone_verified": True})
    return user


ACCOUNT_ADMIN_FIELDS = ("username", "is_active")


@transaction.atomic
def user_update_account(*, user: User, actor: User, **changes) -> User:
    """Staff change an account's username or switch it off (the admin); no other use case owns
    these fields."""
    user = User.objects.select_for_update().get(pk=user.pk)
    old, new = {}, {}
    for field, value in changes.items():
        if field in ACCOUNT_ADMIN_FIELDS and getattr(user, field) != value:
            old[field], new[field] = getattr(user, field), value
            setattr(user, field, value)
    if new:
        user.save(update_fields=list(new))
        audit_record(actor=actor, action="user.admin_update", obj=user, old=old, new=new)
    return user


@transaction.atomic
def system_settings_update(*, actor: User, **changes):
    """Change platform rates, windows and limits (super_admin). Bookings keep the rates they were
    priced with; only later bookings see the new ones."""
    from core.models import SystemSettings

    SystemSettings.load()
    config = SystemSettings.objects.select_for_update().get(pk=1)
    old, new = {}, {}
    for field, value in changes.items():
        if getattr(config, field) != value:
            old[field], new[field] = getattr(config, field), value
            setattr(config, field, value)
    if new:
        try:
            config.full_clean()
        except ValidationError as error:
            raise InvalidInput(fields=error.message_dict) from None
        config.save(update_fields=[*new, "updated_at"])
        audit_record(actor=actor, action="settings.update", obj=config, old=old, new=new)
    return config
