"""Onboarding decisions on a vendor application (ARCHITECTURE §3): approve, reject or suspend,
always with a reason, and the vendor is told.

``vendor_onboarding_decide`` is the use case behind the onboarding manager's admin actions; the
status change itself (and its audit entry, and the refusal to approve an unverified phone) is
``core.services.vendor_set_onboarding_status``.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import InvalidInput
from core.models import OnboardingStatus, User, VendorProfile
from core.notifications import notify
from core.services import vendor_set_onboarding_status

DECISIONS = (OnboardingStatus.APPROVED, OnboardingStatus.REJECTED, OnboardingStatus.SUSPENDED)
REASON_MAX_LENGTH = 500

MESSAGES = {
    OnboardingStatus.APPROVED: (
        gettext_lazy("Your vendor account is approved"),
        gettext_lazy("You can now receive jobs on HomeServe. Note from our team: %(reason)s"),
    ),
    OnboardingStatus.REJECTED: (
        gettext_lazy("Your vendor application was not approved"),
        gettext_lazy("Reason: %(reason)s You can update your profile and documents and apply again."),
    ),
    OnboardingStatus.SUSPENDED: (
        gettext_lazy("Your vendor account is suspended"),
        gettext_lazy("You will not receive new jobs for now. Reason: %(reason)s"),
    ),
}


def upcoming_holding_bookings(vendor: VendorProfile, *, now=None) -> int:
    """How many bookings the vendor still holds from now on (a suspension does not move them)."""
    from bookings.models import SLOT_HOLDING_STATUSES

    now = now or timezone.now()
    return vendor.bookings.filter(status__in=SLOT_HOLDING_STATUSES, scheduled_at__gte=now).count()


@transaction.atomic
def vendor_onboarding_decide(*, vendor: VendorProfile, status: str, reason: str, actor: User) -> VendorProfile:
    """Set the vendor's onboarding status with a reason and notify them (in-app, SMS, e-mail).
    Deciding what is already decided is a no-op without a second message. An approval needs a
    verified phone (InvalidInput otherwise)."""
    if status not in DECISIONS:
        raise InvalidInput(fields={"status": [_("Choose approve, reject or suspend.")]})
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(fields={"reason": [_("Give the reason for this decision.")]})
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput(fields={"reason": [_("At most %(n)d characters.") % {"n": REASON_MAX_LENGTH}]})
    before = VendorProfile.objects.select_for_update().get(pk=vendor.pk).onboarding_status
    vendor = vendor_set_onboarding_status(vendor=vendor, status=status, actor=actor, reason=reason)
    if before != status:
        title, body = MESSAGES[status]
        notify(
            user=vendor.user,
            kind=f"vendor.{status}",
            title=str(title),
            body=str(body) % {"reason": reason},
            data={"vendor_id": str(vendor.pk), "onboarding_status": status, "reason": reason},
        )
    return vendor
