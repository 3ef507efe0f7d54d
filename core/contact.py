"""The contact form (``POST /api/contact/``) and its handling by ops (core/admin_contact.py).

Anyone may write, signed in or not (throttled per address / user: the ``contact`` scope). The
message is stored, audited, and every ops manager and super admin is told (in-app and e-mail,
``notify_ops``) with the subject and a link to the admin, but not the sender's name or words:
those stay in one place, from which they are erased if the sender deletes their account
(core/privacy.py). Ops change the status (new, read, replied, resolved, in any order) and their
notes; each change is audited with old and new values. Messages are never deleted.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import Forbidden, InvalidInput
from core.models import ContactMessage, ContactStatus, User
from core.notifications import notify_ops


def contact_admin_path(message: ContactMessage) -> str:
    return f"/admin/core/contactmessage/{message.pk}/change/"


@transaction.atomic
def contact_message_submit(
    *, name: str, email: str, subject: str, message: str, user: User | None = None
) -> ContactMessage:
    """Store a contact message and tell ops. ``user`` is the signed-in sender, if any."""
    sender = user if getattr(user, "is_authenticated", False) else None
    contact = ContactMessage.objects.create(
        user=sender,
        name=name.strip(),
        email=email.strip(),
        subject=subject.strip(),
        message=message.strip(),
        created_at=timezone.now(),
    )
    audit_record(actor=sender, action="contact.received", obj=contact, new={"subject": contact.subject})
    notify_ops(
        kind="contact.new",
        title=_("Contact message: %(subject)s") % {"subject": contact.subject[:150]},
        body=_("A message came in through the contact form. Read and answer it in the admin: %(path)s")
        % {"path": contact_admin_path(contact)},
        data={"contact_message_id": str(contact.pk), "admin_path": contact_admin_path(contact)},
    )
    return contact


def _may_handle(actor) -> bool:
    return bool(
        actor is not None
        and actor.is_active
        and actor.is_staff
        and (actor.is_superuser or actor.has_perm("core.change_contactmessage"))
    )


@transaction.atomic
def contact_message_update(
    *, message: ContactMessage, actor: User, status: str | None = None, ops_notes: str | None = None
) -> ContactMessage:
    """Ops change a message's status and/or notes. Audited with old and new values; the actor
    becomes ``handled_by``. No change is a no-op (nothing written, nothing audited)."""
    if not _may_handle(actor):
        raise Forbidden()
    message = ContactMessage.objects.select_for_update().get(pk=message.pk)
    old, new = {}, {}
    if status is not None and status != message.status:
        if status not in ContactStatus.values:
            raise InvalidInput(fields={"status": [_("Unknown status.")]})
        old["status"], new["status"] = message.status, status
        message.status = status
    if ops_notes is not None and ops_notes != message.ops_notes:
        old["ops_notes"], new["ops_notes"] = message.ops_notes, ops_notes
        message.ops_notes = ops_notes
    if not new:
        return message
    if "status" in new:
        message.resolved_at = timezone.now() if message.status == ContactStatus.RESOLVED else None
    if message.handled_by_id != actor.pk:
        old["handled_by"], new["handled_by"] = message.handled_by_id, actor.pk
        message.handled_by = actor
    message.save(update_fields=["status", "ops_notes", "handled_by", "resolved_at", "updated_at"])
    audit_record(actor=actor, action="contact.update", obj=message, old=old, new=new)
    return message
