"""The one way to tell a user something (ARCHITECTURE §8, §9).

``notify`` stores the notification (the in-app list), pushes it on the user's
``ws/notifications/`` socket after commit, and — per the user's channel preferences — sends SMS
and e-mail copies from Celery tasks after commit.

Every SMS or e-mail copy is a ``NotificationDelivery`` row written in the caller's transaction
and handed to ``core.tasks.send_delivery`` once it commits. The row is the idempotency guard: the
task claims it (``pending`` → ``sending``, with a lease) before calling the provider and records
the outcome after, so a task delivered twice, or run by two workers at once, sends once. No lock
is held across the provider call. Provider faults put the row back to ``pending`` and the task
retries with exponential backoff; a rejection (an invalid number, a refused address) or running
out of retries marks it ``failed`` for ops to see.

One gap no provider lets us close: if a worker dies after the provider accepted a message but
before the outcome is recorded, the lapsed lease lets a later run send it again (at least once,
never silently dropped). Twilio's Messages API takes no idempotency key.
"""

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.mail import EmailMessage, make_msgid
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import NotFound
from core.models import STAFF_ROLES, DeliveryChannel, DeliveryStatus, Notification, NotificationDelivery
from core.realtime import publish_many, publish_on_commit, user_group
from core.sms import SMSProviderFault, SMSRejected, send_sms

logger = logging.getLogger(__name__)

# A claimed delivery whose worker has not reported back within this long is presumed lost and
# may be claimed again. Longer than the send task's hard time limit.
DELIVERY_LEASE = timedelta(minutes=10)
# A pending delivery untouched this long has lost its task (broker down at dispatch, a lost
# retry); the periodic sweep dispatches it again. Longer than the whole retry schedule.
STUCK_AFTER = timedelta(minutes=15)
# After this many attempts in all (task retries and sweeps together) ops take over.
MAX_DELIVERY_ATTEMPTS = 12
SMS_MAX_CHARS = 480  # three concatenated GSM segments


class DeliveryError(Exception):
    def __init__(self, message: str = "", *, code: int | str | None = None):
        self.message = message
        self.code = code
        super().__init__(message)


class EmailError(DeliveryError):
    pass


class EmailRejected(EmailError):
    """The mail server refused the recipient for good."""


class EmailProviderFault(EmailError):
    """The mail server could not take the message now (down, timing out, a temporary refusal)."""


PROVIDER_FAULTS = (SMSProviderFault, EmailProviderFault)

# Receipts: what we tell people about their bookings and money (confirmations, cancellations and
# refunds, reminders with the address, payment and payout news). Their e-mail copies go only to
# an address its owner has proved (core/accounts.py), so a mistyped address at sign-up never
# receives someone else's bookings. Staff accounts are made by a super admin and exempt. In-app
# and SMS copies are unaffected; other messages (signing links, job offers) are not receipts.
RECEIPT_KIND_PREFIXES = ("booking.", "payment.", "payout.", "dispute.")

# Subjects of e-mails that carry a one-time link and so are never stored as a notification (the
# text travels in the task message only, like a one-time code).
LINK_EMAIL_SUBJECTS = {
    "account.password_reset": gettext_lazy("Reset your HomeServe password"),
    "account.email_verification": gettext_lazy("Confirm your e-mail address for HomeServe"),
}


def is_receipt(kind: str) -> bool:
    return kind.startswith(RECEIPT_KIND_PREFIXES)


def notification_message(notification: Notification) -> dict:
    return {
        "type": "notification",
        "id": notification.pk,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "at": notification.created_at.isoformat(),
    }


@transaction.atomic
def notify(*, user, kind: str, title: str, body: str, data: dict | None = None, sms: bool = True, email: bool = True):
    """Tell ``user`` something. Joins the caller's transaction: if it rolls back, nothing is
    stored, pushed or sent. ``sms``/``email`` False keeps a message in-app only; otherwise a copy
    goes to the user's phone / e-mail address when they have one and have not turned that
    channel off (``User.notify_sms`` / ``notify_email``)."""
    notification = Notification.objects.create(
        user=user, kind=kind, title=str(title)[:200], body=str(body)[:2000], data=data or {}, created_at=timezone.now()
    )
    publish_on_commit(user_group(user.pk), notification_message(notification))
    copies = [
        NotificationDelivery(
            notification=notification, channel=channel, kind=kind, to=address, created_at=notification.created_at
        )
        for channel, address in _external_copies(user, kind=kind, sms=sms, email=email)
    ]
    for delivery in NotificationDelivery.objects.bulk_create(copies) if copies else ():
        dispatch_delivery_on_commit(delivery.pk)
    return notification


@dataclass
class Message:
    """One notification for ``notify_bulk``: what ``notify`` takes, as a value."""

    user: object  # a core.models.User (with phone, email, notify_sms, notify_email, is_active, role, email_verified)
    kind: str
    title: str
    body: str
    data: dict = field(default_factory=dict)
    sms: bool = True
    email: bool = True


BULK_BATCH = 5000


def notify_bulk(messages: list[Message], *, pushes=()) -> int:
    """``notify`` for many people at once, for the sweeps (ARCHITECTURE §9: sweeps work in bulk).

    The same outcome as ``notify`` per message — a stored ``Notification``, its push on
    ``ws/notifications/`` after commit, and an SMS/e-mail ``NotificationDelivery`` per channel the
    person has (receipts held back from unverified addresses alike), handed to the send task after
    commit — written with bulk inserts, and with ONE after-commit hook that publishes every push
    in one go (``publish_many``) and hands the deliveries to the broker in chunks
    (``core.tasks.enqueue_deliveries``). ``pushes``: more ``(group, message)`` pushes for that
    hook (a sweep's booking updates). Joins the caller's transaction (nothing leaves before it
    commits). Returns how many notifications were stored."""
    pushes = list(pushes)
    notifications = []
    delivery_ids = []
    if messages:
        now = timezone.now()
        notifications = Notification.objects.bulk_create(
            [
                Notification(
                    user=message.user,
                    kind=message.kind,
                    title=str(message.title)[:200],
                    body=str(message.body)[:2000],
                    data=message.data,
                    created_at=now,
                )
                for message in messages
            ],
            batch_size=BULK_BATCH,
        )
        deliveries = NotificationDelivery.objects.bulk_create(
            [
                NotificationDelivery(
                    notification=notification, channel=channel, kind=message.kind, to=to, created_at=now
                )
                for message, notification in zip(messages, notifications, strict=True)
                for channel, to in _external_copies(
                    message.user, kind=message.kind, sms=message.sms, email=message.email
                )
            ],
            batch_size=BULK_BATCH,
        )
        pushes.extend((user_group(n.user_id), notification_message(n)) for n in notifications)
        delivery_ids = [delivery.pk for delivery in deliveries]
    if not pushes and not delivery_ids:
        return 0

    def after_commit():
        from core.tasks import enqueue_deliveries

        publish_many(pushes)
        enqueue_deliveries(delivery_ids)

    transaction.on_commit(after_commit, robust=True)
    return len(notifications)


def notify_ops(*, kind: str, title: str, body: str, data: dict | None = None, email: bool = True) -> int:
    """Tell every active ops manager and super admin (in-app and e-mail; never SMS: these are
    work items, not emergencies). Joins the caller's transaction. Returns how many were told."""
    from core.models import Role, User

    staff = list(User.objects.filter(role__in=[Role.OPS_MANAGER, Role.SUPER_ADMIN], is_active=True))
    for user in staff:
        notify(user=user, kind=kind, title=title, body=body, data=data, sms=False, email=email)
    return len(staff)


def _external_copies(user, *, sms: bool, email: bool, kind: str = ""):
    """(channel, address) pairs for the outside copies of a notification of ``kind`` to ``user``.
    Also used by ``notify_bulk``; pass ``kind`` so receipts are held back from unverified
    addresses (without it, the copy is treated as not a receipt)."""
    if not user.is_active:  # an anonymised or disabled account keeps its in-app list only
        return []
    copies = []
    if sms and user.phone and user.notify_sms:
        copies.append((DeliveryChannel.SMS, user.phone))
    if email and user.email and user.notify_email and _may_email(user, kind):
        copies.append((DeliveryChannel.EMAIL, user.email))
    return copies


def _may_email(user, kind: str) -> bool:
    # The kind first: callers that load users with .only() (bulk sweeps) then never touch the
    # verification fields for messages that are not receipts.
    return not is_receipt(kind) or user.email_verified or user.role in STAFF_ROLES


def dispatch_delivery_on_commit(delivery_id: int, *, text: str | None = None) -> None:
    """Queue the send task once the surrounding transaction commits.

    ``text`` is for messages whose content must not be stored (a one-time code): it travels in
    the task message only. ``robust``: a broker that is down must not fail the request whose
    change already committed; the row stays ``pending`` and the periodic sweep sends it later.
    """

    def enqueue():
        from core.tasks import enqueue_delivery

        enqueue_delivery(delivery_id, text)

    transaction.on_commit(enqueue, robust=True)


# --- sending (called by core.tasks) ---------------------------------------------------------------


def delivery_claim(*, delivery_id: int) -> NotificationDelivery | None:
    """Take the delivery for one sending attempt, or None when there is nothing to do: already
    sent or failed, or another worker holds it (its row lock now, or its unexpired lease)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = NotificationDelivery.objects.select_for_update(skip_locked=True).filter(pk=delivery_id).first()
        if delivery is None or delivery.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
            return None
        if (
            delivery.status == DeliveryStatus.SENDING
            and delivery.claimed_at
            and delivery.claimed_at > now - DELIVERY_LEASE
        ):
            return None
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.claimed_at = now
        delivery.save(update_fields=["status", "attempts", "claimed_at", "updated_at"])
    return delivery


def _record_outcome(delivery: NotificationDelivery, *, status: str, error: Exception | None = None, provider_id=""):
    """Write what happened to our claim. Conditional on the claim still being ours, so a run
    whose lease lapsed cannot overwrite the outcome of the run that took over."""
    changes = {"status": status, "updated_at": timezone.now()}
    if status == DeliveryStatus.SENT:
        changes.update(provider_id=provider_id[:255], sent_at=timezone.now(), last_error="", error_code="")
    if error is not None:
        changes.update(last_error=str(error)[:500], error_code=str(getattr(error, "code", "") or "")[:20])
    NotificationDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.SENDING, claimed_at=delivery.claimed_at
    ).update(**changes)


def delivery_send(*, delivery_id: int, text: str | None = None) -> str:
    """Send one delivery. Returns ``"sent"``, ``"rejected"``, ``"failed"`` or ``"skipped"`` (nothing
    to do). Raises ``SMSProviderFault``/``EmailProviderFault`` with the row back at ``pending``,
    for the task to retry. Must not be called inside a transaction (it calls a provider)."""
    delivery = delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    if delivery.notification_id is None and text is None:
        # A one-time code is never stored, so only the task that was given it can send it.
        _record_outcome(
            delivery,
            status=DeliveryStatus.FAILED,
            error=DeliveryError("The message text was not kept, so it cannot be sent again."),
        )
        return "failed"
    try:
        provider_id = _send(delivery, text)
    except (SMSRejected, EmailRejected) as exc:
        _record_outcome(delivery, status=DeliveryStatus.FAILED, error=exc)
        logger.warning("%s delivery %s to %s rejected: %s", delivery.channel, delivery.pk, delivery.to, exc)
        return "rejected"
    except Exception as exc:
        # A provider fault (retried by the task) or a bug (the task marks it failed): either way
        # release the claim now instead of waiting for the lease to lapse.
        _record_outcome(delivery, status=DeliveryStatus.PENDING, error=exc)
        raise
    _record_outcome(delivery, status=DeliveryStatus.SENT, provider_id=provider_id)
    return "sent"


def _send(delivery: NotificationDelivery, text: str | None) -> str:
    notification = delivery.notification if delivery.notification_id else None
    if delivery.channel == DeliveryChannel.SMS:
        if text is None:
            text = f"{notification.title}: {notification.body}"
        if len(text) > SMS_MAX_CHARS:
            text = text[: SMS_MAX_CHARS - 1] + "…"
        return send_sms(to=delivery.to, body=text).provider_id
    return _send_email(delivery, notification, text)


def _send_email(delivery: NotificationDelivery, notification: Notification | None, text: str | None) -> str:
    if notification is not None:
        subject = notification.title
    else:
        subject = str(LINK_EMAIL_SUBJECTS.get(delivery.kind, _("A message from HomeServe")))
    body = text if text is not None else notification.body
    if notification is not None:
        body += "\n\n--\n" + _(
            "You receive this e-mail because of your HomeServe notification settings. "
            "You can turn e-mail notifications off in your account."
        )
    message_id = make_msgid(domain="homeserve")
    message = EmailMessage(subject=subject, body=body, to=[delivery.to], headers={"Message-ID": message_id})
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = {code for code, _msg in exc.recipients.values()}
        if all(500 <= code < 600 for code in codes):
            raise EmailRejected(f"Recipient refused: {exc.recipients}", code=min(codes)) from exc
        raise EmailProviderFault(f"Recipient temporarily refused: {exc.recipients}") from exc
    except (smtplib.SMTPException, OSError) as exc:  # server down, timeouts, temporary refusals
        raise EmailProviderFault(f"{exc.__class__.__name__}: {exc}") from exc
    return message_id


def delivery_give_up(*, delivery_id: int, error: BaseException | None = None) -> None:
    """The task has run out of retries (or hit an unexpected error): flag the row for ops."""
    NotificationDelivery.objects.filter(
        pk=delivery_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    ).update(
        status=DeliveryStatus.FAILED,
        last_error=(f"Gave up: {error}" if error else "Gave up")[:500],
        error_code=str(getattr(error, "code", "") or "")[:20],
        updated_at=timezone.now(),
    )
    logger.error("Delivery %s failed for good: %s", delivery_id, error)


def deliveries_requeue_stuck(*, limit: int = 500) -> dict:
    """The periodic sweep: dispatch again deliveries whose task was lost (broker down when it
    was queued, a worker killed after claiming), and give up on those past the attempt cap.
    Rows are claimed with SKIP LOCKED and touched, so overlapping sweeps take different rows."""
    now = timezone.now()
    requeued, given_up = [], []
    with transaction.atomic():
        rows = list(
            NotificationDelivery.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=DeliveryStatus.PENDING, updated_at__lt=now - STUCK_AFTER)
                | Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - DELIVERY_LEASE)
            )
            .order_by("pk")
            .only("pk", "notification_id", "attempts")[:limit]
        )
        for row in rows:
            # Code messages (no notification) cannot be rebuilt; the person asks for a new code.
            (given_up if row.notification_id is None or row.attempts >= MAX_DELIVERY_ATTEMPTS else requeued).append(
                row.pk
            )
        if given_up:
            NotificationDelivery.objects.filter(pk__in=given_up).update(
                status=DeliveryStatus.FAILED,
                last_error="Not delivered: gave up after the sending task was lost.",
                updated_at=now,
            )
        if requeued:
            # Back to pending (a lapsed lease) and touched, so the next sweep leaves them to the task.
            NotificationDelivery.objects.filter(pk__in=requeued).update(status=DeliveryStatus.PENDING, updated_at=now)
            for delivery_id in requeued:
                dispatch_delivery_on_commit(delivery_id)
    return {"requeued": len(requeued), "failed": len(given_up)}


# --- the in-app list ------------------------------------------------------------------------------


def notification_list(*, user, unread: bool | None = None):
    """The user's notifications, newest first; ``unread`` True/False filters, None gives all."""
    queryset = Notification.objects.filter(user=user).order_by("-created_at", "-id")
    if unread is not None:
        queryset = queryset.filter(read_at__isnull=unread)
    return queryset


def notification_unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


@transaction.atomic
def notification_mark_read(*, user, notification_id) -> Notification:
    """Mark one of the user's notifications read (again is fine: the first read time stays).
    Someone else's notification is NotFound, as is a missing one."""
    notification = Notification.objects.select_for_update().filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound()
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notification_mark_all_read(*, user) -> int:
    """Mark every unread notification of the user read; returns how many changed."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
