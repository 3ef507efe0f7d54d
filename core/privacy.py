"""What we hold about a person, and forgetting them (ARCHITECTURE §10: ``GET /api/users/me/export/``,
``DELETE /api/users/me/``).

Export — table-driven
    ``EXPORT_SECTIONS`` lists, for every model that points at a person (the user, or the vendor
    profile standing for a vendor), which of its relation fields the section covers and how its rows
    are written out; ``NOT_EXPORTED`` lists the relations deliberately left out, each with the
    reason. ``export_coverage_gaps`` walks every installed model for relations to the user model or
    to VendorProfile and names those in neither list; a test fails on any, so a new model (a chat
    ``Message``, say) cannot quietly escape the export: add a section (or a reasoned exclusion).

Deletion — anonymisation
    The user row stays (bookings, payments, the ledger, signatures and the audit log point at it and
    must stay consistent: ``ledger_check`` and ``verify_signatures`` still pass), but it names nobody:
    username and e-mail become ``deleted-<id>`` / ``deleted-<id>@deleted.invalid`` (unique,
    non-routable: ``.invalid`` is reserved by RFC 2606), name and phone are blanked, the password is
    unusable, the account inactive, every refresh token blacklisted. Saved addresses are deleted;
    notifications keep only their kind and time; the text the person wrote is erased — signature and
    review comments (through ``signatures.services.signature_comments_erase``, which keeps the hash
    chain valid), booking notes, their own cancellation reasons and timeline notes, their chat
    messages, contact messages; the phone number and e-mail address are blanked from delivery records, one-time codes
    deleted, login records (django-axes) and Idempotency-Key replays deleted. On their signatures
    the typed signer name, the IP address and user agent and the drawn image's bytes are erased
    (``SignatureQuerySet.erase_signer``: the image's SHA-256 stays in the hash, so the chain still
    verifies). The card gateway's customer object (name, e-mail) is redacted at the gateway after
    commit, retried until done or flagged for ops (``payments.customers``).

    Kept on purpose: each booking's price, status, timeline and service address (the record of a
    supplied service: tax, disputes, chargebacks), its photos (they belong to the job and are in the
    signed hash), the signed record itself (rating, amount, the hashes of the comments and the drawn
    image: proof the work was accepted), payments and ledger lines, and the audit log, which is
    append-only and may hold old values of changed fields and the request's IP address and user
    agent (super admins only).

    Refused with 409 while something is still open: a booking that is not finished (pending,
    confirmed, in progress, completed, awaiting a signature, disputed), money the customer still
    owes for a booking, a payment operation not yet settled; for a vendor, also jobs they hold, a
    non-zero earnings balance (owed either way) and payouts not yet paid. Staff accounts are closed
    by a super admin, not here (403).

    Vendors: once nothing is open, the profile is anonymised too — "Deleted vendor", no bio, base,
    hours, service area, payout account or offered services; suspended and unavailable, so never
    offered a job again. Identity documents are deleted with their files. Reviews and ratings of the
    vendor's past jobs stay (they are part of signed records).
"""

import base64
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.accounts import user_tokens_end
from core.audit import audit_record
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import (
    STAFF_ROLES,
    Address,
    AuditLog,
    ContactMessage,
    Notification,
    NotificationDelivery,
    OnboardingStatus,
    PhoneOTP,
    PhoneOTPLock,
    User,
    VendorDocument,
    VendorProfile,
)

EXPORT_FORMAT = "homeserve-export/1"
DELETED_EMAIL_DOMAIN = "deleted.invalid"
DELETED_VENDOR_NAME = "Deleted vendor"


# --- export ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSection:
    """One part of the export. ``covers`` names the relations to the person it accounts for, as
    ``"app_label.Model.field"``; ``rows(user, vendor)`` returns its JSON-ready content (``vendor`` is
    the person's VendorProfile or None). ``requires`` names a model ("app_label.Model") the section
    needs that may not be installed yet; without it the section and its ``covers`` are left out."""

    name: str
    covers: tuple[str, ...]
    rows: Callable
    description: str = ""
    requires: str = ""

    def installed(self) -> bool:
        if not self.requires:
            return True
        try:
            apps.get_model(self.requires)
        except LookupError:
            return False
        return True


def _profile(user, vendor):
    return {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone,
        "phone_verified": user.phone_verified,
        "role": user.role,
        "notify_sms": user.notify_sms,
        "notify_email": user.notify_email,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
    }


def _addresses(user, vendor):
    return list(
        Address.objects.filter(user=user)
        .order_by("created_at", "id")
        .values("id", "label", "line1", "line2", "city", "pincode", "lat", "lng", "is_default", "created_at")
    )


def _vendor_profile(user, vendor):
    if vendor is None:
        return None
    from bookings.models import VendorService

    return {
        "id": vendor.pk,
        "display_name": vendor.display_name,
        "bio": vendor.bio,
        "experience_years": vendor.experience_years,
        "base_lat": vendor.base_lat,
        "base_lng": vendor.base_lng,
        "radius_km": vendor.radius_km,
        "working_hours": vendor.working_hours,
        "is_available": vendor.is_available,
        "onboarding_status": vendor.onboarding_status,
        "rating_avg": vendor.rating_avg,
        "rating_count": vendor.rating_count,
        "payout_account_id": vendor.payout_account_id,
        "created_at": vendor.created_at,
        "pincodes": sorted(vendor.pincodes.values_list("pincode", flat=True)),
        "time_off": list(vendor.time_off.order_by("starts_at").values("starts_at", "ends_at", "reason")),
        # Metadata only: the files themselves are identity documents, shown to onboarding staff.
        "documents": [
            {
                "id": document.pk,
                "kind": document.kind,
                "status": document.status,
                "review_note": document.review_note,
                "file_name": os.path.basename(document.file.name) if document.file else "",
                "uploaded_at": document.uploaded_at,
            }
            for document in VendorDocument.objects.filter(vendor=vendor).order_by("uploaded_at", "id")
        ],
        "services": list(
            VendorService.objects.filter(vendor=vendor)
            .order_by("service__name")
            .values("service__name", "price", "is_active")
        ),
    }


def _bookings(user, vendor):
    from bookings.models import Booking

    rows = []
    as_customer = (
        Booking.objects.filter(customer=user)
        .select_related("vendor", "promo_code")
        .prefetch_related("lines", "payment_attempts")
        .order_by("created_at", "id")
    )
    for booking in as_customer:
        rows.append(
            {
                "id": booking.pk,
                "booking_number": booking.booking_number,
                "as": "customer",
                "status": booking.status,
                "scheduled_at": booking.scheduled_at,
                "ends_at": booking.ends_at,
                "vendor": booking.vendor.display_name if booking.vendor_id else None,
                "address": {
                    "line1": booking.address_line1,
                    "line2": booking.address_line2,
                    "city": booking.address_city,
                    "pincode": booking.address_pincode,
                    "lat": booking.address_lat,
                    "lng": booking.address_lng,
                },
                "notes": booking.notes,
                "payment_method": booking.payment_method,
                "promo_code": booking.promo_code.code if booking.promo_code_id else None,
                "price": {
                    "subtotal": booking.subtotal,
                    "discount": booking.discount,
                    "tax": booking.tax,
                    "total": booking.total,
                    "currency": booking.currency,
                },
                "cancelled_by": booking.cancelled_by,
                "cancellation_reason": booking.cancellation_reason,
                "cancellation_fee": booking.cancellation_fee,
                "refund_amount": booking.refund_amount,
                "lines": _lines(booking),
                # Payments as amounts and statuses; gateway ids and secrets are not the person's.
                "payments": [
                    {
                        "method": attempt.method,
                        "status": attempt.status,
                        "amount": attempt.amount,
                        "amount_captured": attempt.amount_captured,
                        "amount_refunded": attempt.amount_refunded,
                        "currency": attempt.currency,
                        "created_at": attempt.created_at,
                    }
                    for attempt in sorted(booking.payment_attempts.all(), key=lambda a: (a.created_at, str(a.pk)))
                ],
                "created_at": booking.created_at,
            }
        )
    if vendor is not None:
        # Jobs: the customer's name, phone and street address are theirs, not the vendor's.
        for booking in Booking.objects.filter(vendor=vendor).prefetch_related("lines").order_by("created_at", "id"):
            rows.append(
                {
                    "id": booking.pk,
                    "booking_number": booking.booking_number,
                    "as": "vendor",
                    "status": booking.status,
                    "scheduled_at": booking.scheduled_at,
                    "ends_at": booking.ends_at,
                    "city": booking.address_city,
                    "pincode": booking.address_pincode,
                    "vendor_earning": booking.vendor_earning,
                    "currency": booking.currency,
                    "lines": _lines(booking),
                    "created_at": booking.created_at,
                }
            )
    return rows


def _lines(booking):
    return [
        {
            "service": line.service_name,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "line_total": line.line_total,
        }
        for line in booking.lines.all()
    ]


def _booking_events(user, vendor):
    from bookings.models import BookingEvent

    return list(
        BookingEvent.objects.filter(actor=user)
        .order_by("created_at", "id")
        .values("booking__booking_number", "event", "from_status", "to_status", "note", "created_at")
    )


def _job_offers(user, vendor):
    if vendor is None:
        return []
    from bookings.models import BookingOffer

    return list(
        BookingOffer.objects.filter(vendor=vendor)
        .order_by("sent_at", "id")
        .values("booking__booking_number", "sent_at", "expires_at", "outcome", "responded_at", "reason")
    )


def _photos(user, vendor):
    from bookings.models import BookingPhoto

    return list(
        BookingPhoto.objects.filter(uploaded_by=user)
        .order_by("created_at", "id")
        .values("booking__booking_number", "kind", "caption", "sha256", "width", "height", "size_bytes", "created_at")
    )


def _promo_redemptions(user, vendor):
    from bookings.models import PromoRedemption

    return list(
        PromoRedemption.objects.filter(user=user)
        .order_by("created_at", "id")
        .values("promo__code", "booking__booking_number", "discount", "released", "created_at")
    )


def _signatures(user, vendor):
    from signatures.models import Signature

    given = [
        {
            "booking_number": row["booking__booking_number"],
            "as": "customer",
            "amount": row["amount"],
            "currency": row["currency"],
            "rating": row["rating"],
            "comments": row["comments"],
            "comments_erased_at": row["comments_erased_at"],
            "signer_name": row["signer_name"],
            "signature_image": (
                "data:image/png;base64," + base64.b64encode(bytes(row["signature_image"])).decode()
                if row["signature_image"]
                else None
            ),
            "signed_at": row["signed_at"],
            "signed_via": row["signed_via"],
            "signature_hash": row["signature_hash"],
        }
        for row in Signature.objects.filter(customer=user)
        .order_by("sequence")
        .values(
            "booking__booking_number",
            "amount",
            "currency",
            "rating",
            "comments",
            "comments_erased_at",
            "signer_name",
            "signature_image",
            "signed_at",
            "signed_via",
            "signature_hash",
        )
    ]
    received = []
    if vendor is not None:
        received = [
            {"as": "vendor", **row}
            for row in Signature.objects.filter(vendor=vendor)
            .order_by("sequence")
            .values("booking__booking_number", "amount", "currency", "rating", "signed_at", "signature_hash")
        ]
    return given + received


def _signature_requests(user, vendor):
    from signatures.models import SignatureRequest

    return list(
        SignatureRequest.objects.filter(created_by=user)
        .order_by("created_at", "id")
        .values("booking__booking_number", "status", "created_at", "expires_at", "closed_at")
    )


def _reviews(user, vendor):
    from signatures.models import Review

    written = [
        {"as": "customer", **row}
        for row in Review.objects.filter(customer=user)
        .order_by("created_at", "id")
        .values("booking__booking_number", "vendor__display_name", "rating", "comments", "is_hidden", "created_at")
    ]
    received = []
    if vendor is not None:
        received = [
            {"as": "vendor", **row}
            for row in Review.objects.filter(vendor=vendor)
            .order_by("created_at", "id")
            .values("booking__booking_number", "rating", "comments", "is_hidden", "created_at")
        ]
    return written + received


def _earnings(user, vendor):
    if vendor is None:
        return []
    from payments.models import Earning

    return list(
        Earning.objects.filter(vendor=vendor)
        .order_by("created_at", "id")
        .values("booking__booking_number", "amount", "currency", "available_at", "payout__number", "created_at")
    )


def _payouts(user, vendor):
    if vendor is None:
        return []
    from payments.models import Payout

    return list(
        Payout.objects.filter(vendor=vendor)
        .order_by("created_at", "id")
        .values("number", "amount", "currency", "status", "bank_reference", "created_at", "paid_at")
    )


def _payment_accounts(user, vendor):
    from payments.models import GatewayCustomer

    return list(
        GatewayCustomer.objects.filter(user=user)
        .order_by("created_at", "id")
        .values("gateway", "customer_id", "created_at")
    )


def _chat_messages(user, vendor):
    """The person's booking chats, both sides: what they wrote and what they were told."""
    from bookings.models import Booking

    Message = apps.get_model("bookings", "Message")
    their_bookings = Booking.objects.filter(customer=user)
    if vendor is not None:
        their_bookings = Booking.objects.filter(Q(customer=user) | Q(vendor=vendor))
    return [
        {
            "booking_number": row["booking__booking_number"],
            "from_me": row["sender_id"] == user.pk,
            "body": row["body"],
            "created_at": row["created_at"],
            "read_at": row["read_at"],
        }
        for row in Message.objects.filter(Q(sender=user) | Q(booking__in=their_bookings))
        .order_by("created_at", "id")
        .values("booking__booking_number", "sender_id", "body", "created_at", "read_at")
    ]


def _notifications(user, vendor):
    return list(
        Notification.objects.filter(user=user)
        .order_by("created_at", "id")
        .values("kind", "title", "body", "data", "created_at", "read_at")
    )


def _contact_messages_of(user):
    """Messages sent from the account, and those sent signed out from its address once the address
    is proved (an unproved address could be someone else's)."""
    where = Q(user=user)
    if user.email and user.email_verified:
        where |= Q(email__iexact=user.email)
    return ContactMessage.objects.filter(where)


def _contact_messages(user, vendor):
    return list(
        _contact_messages_of(user)
        .order_by("created_at", "id")
        .values("name", "email", "subject", "message", "status", "created_at", "resolved_at")
    )


def _audit_entries(user, vendor):
    return list(
        AuditLog.objects.filter(actor=user)
        .order_by("created_at", "id")
        .values("action", "object_type", "object_id", "ip_address", "user_agent", "created_at")
    )


def _login_history(user, vendor):
    # django-axes keys its records by username, not by a relation, so the walk cannot see them.
    from axes.models import AccessAttempt, AccessLog

    return {
        "sign_ins": list(
            AccessLog.objects.filter(username=user.username)
            .order_by("attempt_time")
            .values("attempt_time", "logout_time", "ip_address", "user_agent")
        ),
        "failed_attempts": list(
            AccessAttempt.objects.filter(username=user.username)
            .order_by("attempt_time")
            .values("attempt_time", "failures_since_start", "ip_address", "user_agent")
        ),
    }


EXPORT_SECTIONS: tuple[ExportSection, ...] = (
    ExportSection("profile", (), _profile, "The account."),
    ExportSection("addresses", ("core.Address.user",), _addresses, "Saved addresses."),
    ExportSection(
        "vendor_profile",
        (
            "core.VendorProfile.user",
            "core.VendorPincode.vendor",
            "core.VendorTimeOff.vendor",
            "core.VendorDocument.vendor",
            "bookings.VendorService.vendor",
        ),
        _vendor_profile,
        "A vendor's profile, service area, time off, offered services and document metadata.",
    ),
    ExportSection(
        "bookings",
        ("bookings.Booking.customer", "bookings.Booking.vendor"),
        _bookings,
        "Bookings made (with lines and payments as amounts and statuses) and jobs done.",
    ),
    ExportSection("booking_events", ("bookings.BookingEvent.actor",), _booking_events, "Booking steps taken."),
    ExportSection("job_offers", ("bookings.BookingOffer.vendor",), _job_offers, "Jobs offered to a vendor."),
    ExportSection("photos", ("bookings.BookingPhoto.uploaded_by",), _photos, "Job photos uploaded (metadata)."),
    ExportSection("promo_redemptions", ("bookings.PromoRedemption.user",), _promo_redemptions, "Promo codes used."),
    ExportSection(
        "signatures", ("signatures.Signature.customer", "signatures.Signature.vendor"), _signatures, "Signed records."
    ),
    ExportSection(
        "signature_requests", ("signatures.SignatureRequest.created_by",), _signature_requests, "Signatures asked for."
    ),
    ExportSection(
        "reviews", ("signatures.Review.customer", "signatures.Review.vendor"), _reviews, "Reviews written or received."
    ),
    ExportSection("earnings", ("payments.Earning.vendor",), _earnings, "A vendor's earnings."),
    ExportSection("payouts", ("payments.Payout.vendor",), _payouts, "Payouts to a vendor."),
    ExportSection(
        "payment_accounts", ("payments.GatewayCustomer.user",), _payment_accounts, "Customer ids at the card gateway."
    ),
    ExportSection(
        "chat_messages",
        ("bookings.Message.sender",),
        _chat_messages,
        "Booking chat messages written and received.",
        requires="bookings.Message",
    ),
    ExportSection("notifications", ("core.Notification.user",), _notifications, "Messages we sent."),
    ExportSection("contact_messages", ("core.ContactMessage.user",), _contact_messages, "Contact-form messages."),
    ExportSection("audit_entries", ("core.AuditLog.actor",), _audit_entries, "Changes made, as audited."),
    ExportSection("login_history", (), _login_history, "Sign-ins and failed sign-in attempts."),
)

# Relations to a person deliberately left out of the export, and why.
NOT_EXPORTED: dict[str, str] = {
    "admin.LogEntry.user": "Admin-site actions of staff; staff accounts are not self-service.",
    "token_blacklist.OutstandingToken.user": "Sign-in credentials (token ids and expiry dates), not information "
    "about the person; all are blacklisted when the account is deleted.",
    "bookings.BookingReminder.user": "Bookkeeping of which reminders went out; their text is under notifications.",
    "bookings.VendorSearchEntry.vendor": "The search index: a copy of the vendor's services, prices, pincodes and "
    "rating, which are exported from the vendor's own records; emptied when the account is deleted.",
    "payments.IdempotencyRecord.user": "Technical replays of API requests, kept 24 hours; deleted with the account.",
    "payments.LedgerTransaction.created_by": "Internal double-entry bookkeeping; the amounts are under bookings, "
    "earnings and payouts.",
    "payments.PaymentOperation.created_by": "Internal money-movement jobs; their results are under bookings.",
    "payments.Payout.created_by": "The staff member who marked a payout paid.",
    "payments.ReconciliationIssue.resolved_by": "The staff member who resolved a reconciliation issue.",
    "signatures.Review.hidden_by": "The staff member who hid a review.",
    "core.ContactMessage.handled_by": "The staff member who handled a contact message.",
}


def person_relations(models=None) -> set[str]:
    """Every concrete relation field (FK, one-to-one, many-to-many) from an installed model to the
    user model or to VendorProfile, as ``"app_label.Model.field"``."""
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    targets = (user_model, VendorProfile)
    found = set()
    for model in models if models is not None else apps.get_models():
        for model_field in model._meta.get_fields():
            if model_field.is_relation and model_field.concrete and model_field.related_model in targets:
                found.add(f"{model._meta.label}.{model_field.name}")
    return found


def export_coverage_gaps(models=None) -> tuple[set[str], set[str]]:
    """(relations neither exported nor excluded, registry entries naming no relation)."""
    relations = person_relations(models)
    registered = {name for section in EXPORT_SECTIONS if section.installed() for name in section.covers}
    registered |= set(NOT_EXPORTED)
    return relations - registered, registered - relations


def user_data_export(*, user: User) -> dict:
    """Everything we hold about ``user``, as a JSON-ready dict (Decimals and datetimes are turned
    into strings by the encoder). The export itself is audited."""
    vendor = VendorProfile.objects.filter(user=user).first()
    data = {"format": EXPORT_FORMAT, "exported_at": timezone.now()}
    for section in EXPORT_SECTIONS:
        if section.installed():
            data[section.name] = section.rows(user, vendor)
    data["not_included"] = dict(NOT_EXPORTED)
    audit_record(actor=user, action="user.export", obj=user, new={"sections": len(EXPORT_SECTIONS)})
    return data


# --- deletion -------------------------------------------------------------------------------------

# Bookings that are not finished (issue 6): money or a signature may still follow.
OPEN_BOOKING_STATUSES = ("pending", "confirmed", "in_progress", "completed", "awaiting_signature", "disputed")


def _numbers(queryset, limit=5) -> str:
    numbers = list(queryset.order_by("scheduled_at").values_list("booking_number", flat=True)[: limit + 1])
    shown = ", ".join(numbers[:limit])
    return shown + (" …" if len(numbers) > limit else "")


def account_deletion_blockers(*, user: User, vendor: VendorProfile | None) -> list[str]:
    """What stops the account from being deleted now, as messages for the person (empty: nothing)."""
    from bookings.models import Booking, BookingStatus
    from payments.ledger import vendor_balance
    from payments.manual import booking_amount_owed
    from payments.models import OperationState, PaymentOperation, Payout, PayoutStatus

    reasons = []
    open_bookings = Booking.objects.filter(customer=user, status__in=OPEN_BOOKING_STATUSES)
    if open_bookings.exists():
        reasons.append(
            _("You have bookings that are not finished yet (%(numbers)s). Cancel them or wait until they are done.")
            % {"numbers": _numbers(open_bookings)}
        )
    owing = [
        booking.booking_number
        for booking in Booking.objects.filter(
            customer=user, status__in=[BookingStatus.SIGNED, BookingStatus.CANCELLED]
        ).order_by("scheduled_at")
        if booking_amount_owed(booking) > 0
    ]
    if owing:
        reasons.append(
            _("A payment is still owed for booking %(numbers)s. Please settle it first.")
            % {"numbers": ", ".join(owing[:5])}
        )
    unsettled = PaymentOperation.objects.filter(
        booking__customer=user, state__in=[OperationState.PENDING, OperationState.RUNNING, OperationState.FAILED]
    )
    if unsettled.exists():
        reasons.append(_("A payment or refund for one of your bookings is still being processed. Try again later."))
    if vendor is not None:
        jobs = Booking.objects.filter(vendor=vendor, status__in=OPEN_BOOKING_STATUSES)
        if jobs.exists():
            reasons.append(_("You hold jobs that are not finished yet (%(numbers)s).") % {"numbers": _numbers(jobs)})
        balance = vendor_balance(vendor)
        if balance != 0:
            reasons.append(
                _("Your earnings balance is %(amount)s %(currency)s; it must be paid out or settled first.")
                % {"amount": balance, "currency": settings.CURRENCY}
            )
        if Payout.objects.filter(vendor=vendor).exclude(status=PayoutStatus.PAID).exists():
            reasons.append(_("A payout to you is not finished yet."))
        if PaymentOperation.objects.filter(
            booking__vendor=vendor, state__in=[OperationState.PENDING, OperationState.RUNNING, OperationState.FAILED]
        ).exists():
            reasons.append(_("A payment for one of your jobs is still being processed. Try again later."))
    return reasons


def account_delete(*, user: User, password: str, now=None) -> User:
    """Anonymise the person holding ``user`` after they re-entered their password (see the module
    docstring). Wrong password → InvalidInput (400); staff → Forbidden (403); anything still open
    → Conflict (409) with ``reasons``, and nothing changes."""
    now = now or timezone.now()
    if user.role in STAFF_ROLES:
        raise Forbidden(_("Staff accounts are closed by a super admin."))
    if not password or not user.check_password(password):
        raise InvalidInput(fields={"password": [_("Wrong password.")]})
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        # The vendor row too: booking creation locks it, so no job can be taken meanwhile.
        vendor = VendorProfile.objects.select_for_update().filter(user=user).first()
        reasons = account_deletion_blockers(user=user, vendor=vendor)
        if reasons:
            raise Conflict(" ".join(reasons), extra={"reasons": reasons})
        counts = _anonymise(user=user, vendor=vendor, now=now)
        audit_record(actor=user, action="user.anonymised", obj=user, new=counts)
    return user


def _anonymise(*, user: User, vendor: VendorProfile | None, now) -> dict:
    from bookings.models import Booking, BookingEvent, CancelledBy
    from signatures.models import Signature
    from signatures.services import signature_comments_erase

    old_username, old_email, old_phone = user.username, user.email, user.phone
    contact = _contact_messages_of(user)  # before the address goes (it matches verified addresses)
    contact_erased = contact.update(name="", email="", subject="", message="")

    placeholder = f"deleted-{user.pk.hex}"
    user.username = placeholder
    user.email = f"{placeholder}@{DELETED_EMAIL_DOMAIN}"
    user.first_name = user.last_name = user.phone = ""
    user.email_verified = user.phone_verified = False
    user.notify_sms = user.notify_email = False
    user.is_active = False
    user.anonymised_at = now
    user.set_unusable_password()
    user.save(
        update_fields=[
            "username",
            "email",
            "first_name",
            "last_name",
            "phone",
            "email_verified",
            "phone_verified",
            "notify_sms",
            "notify_email",
            "is_active",
            "anonymised_at",
            "password",
        ]
    )
    user.groups.clear()
    user.user_permissions.clear()

    addresses, _detail = Address.objects.filter(user=user).delete()
    notifications = Notification.objects.filter(user=user).update(title="", body="", data={})
    sent_to = Q(notification__user=user) | Q(to__iexact=old_email) if old_email else Q(notification__user=user)
    if old_phone:
        sent_to |= Q(to=old_phone)
    NotificationDelivery.objects.filter(sent_to).update(to="", last_error="")
    if old_phone:
        PhoneOTP.objects.filter(phone=old_phone).delete()
        PhoneOTPLock.objects.filter(phone=old_phone).delete()

    signatures = 0
    for signature in Signature.objects.filter(customer=user, comments_erased_at__isnull=True).order_by("sequence"):
        signature_comments_erase(signature=signature, actor=user, now=now)
        signatures += 1
    # The typed name, IP address, user agent and drawn image; the chain stays valid (models.py).
    signers = Signature.objects.filter(customer=user).erase_signer(now=now)
    Booking.objects.filter(customer=user).exclude(notes="").update(notes="")
    Booking.objects.filter(customer=user, cancelled_by=CancelledBy.CUSTOMER).exclude(cancellation_reason="").update(
        cancellation_reason=""
    )
    BookingEvent.objects.filter(actor=user).exclude(note="").update(note="")
    chat = 0
    if any(section.name == "chat_messages" and section.installed() for section in EXPORT_SECTIONS):
        chat = apps.get_model("bookings", "Message").objects.filter(sender=user).exclude(body="").update(body="")

    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from payments.models import IdempotencyRecord

    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        model.objects.filter(username__iexact=old_username).delete()
    IdempotencyRecord.objects.filter(user=user).delete()
    tokens = user_tokens_end(user=user, now=now)
    # The card gateway's copy of the name and e-mail: redacted there after commit, retried.
    from payments.customers import gateway_customers_redact_request

    gateway_customers = gateway_customers_redact_request(user=user, now=now)

    counts = {
        "addresses_deleted": addresses,
        "notifications_erased": notifications,
        "signature_comments_erased": signatures,
        "signature_signers_erased": signers,
        "gateway_customers_to_redact": gateway_customers,
        "contact_messages_erased": contact_erased,
        "chat_messages_erased": chat,
        "refresh_tokens_ended": tokens,
    }
    if vendor is not None:
        counts.update(_anonymise_vendor(vendor))
    return counts


def _anonymise_vendor(vendor: VendorProfile) -> dict:
    from bookings.models import VendorService
    from bookings.search_index import search_entries_refresh

    vendor.display_name = DELETED_VENDOR_NAME
    vendor.bio = ""
    vendor.experience_years = 0
    vendor.base_lat = vendor.base_lng = None
    vendor.working_hours = {}
    vendor.is_available = False
    vendor.payout_account_id = ""
    vendor.onboarding_status = OnboardingStatus.SUSPENDED
    vendor.save(
        update_fields=[
            "display_name",
            "bio",
            "experience_years",
            "base_lat",
            "base_lng",
            "working_hours",
            "is_available",
            "payout_account_id",
            "onboarding_status",
            "updated_at",
        ]
    )
    vendor.pincodes.all().delete()
    vendor.time_off.all().delete()
    VendorService.objects.filter(vendor=vendor, is_active=True).update(is_active=False)
    search_entries_refresh([vendor.pk])  # update() sends no signal
    documents = list(VendorDocument.objects.filter(vendor=vendor))
    files = [(document.file.storage, document.file.name) for document in documents if document.file]
    VendorDocument.objects.filter(pk__in=[document.pk for document in documents]).delete()

    def delete_files():
        for storage, name in files:
            # The row is gone either way; a file the storage failed to delete is only an orphan.
            with contextlib.suppress(OSError):
                storage.delete(name)

    # Files are not transactional: remove them only once the rows' deletion has committed.
    transaction.on_commit(delete_files, robust=True)
    return {"vendor_profile_anonymised": True, "vendor_documents_deleted": len(documents)}
