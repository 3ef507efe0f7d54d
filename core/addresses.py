"""Saved addresses (``/api/users/me/addresses/``; ARCHITECTURE §10).

- A customer keeps up to ``MAX_ADDRESSES`` addresses. The first one saved becomes the default;
  making another the default unsets the old one in the same transaction. At most one default per
  user is also a partial unique index, so no interleaving can ever leave two.
- Every change for one person runs with that person's user row locked: concurrent "make this the
  default" requests queue up instead of tripping the unique index (which would be a 500), and the
  last one wins. Nobody else's requests wait.
- Deleting the default leaves the person without one (nothing is promoted behind their back).
- A booking copies the address into its own columns (bookings.services.creation.resolve_address),
  so editing or deleting a saved address never changes a booking.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Address, User

MAX_ADDRESSES = 20
ADDRESS_FIELDS = ("label", "line1", "line2", "city", "pincode", "lat", "lng")


def address_list(*, user: User):
    return Address.objects.filter(user=user).order_by("-is_default", "-created_at", "-id")


def address_get(*, user: User, address_id) -> Address:
    """One of the user's addresses; someone else's, or a missing one, is NotFound."""
    address = Address.objects.filter(pk=address_id, user=user).first() if str(address_id).isdigit() else None
    if address is None:
        raise NotFound()
    return address


def _lock_owner(user: User) -> None:
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).get()


def _validate(address: Address) -> None:
    if (address.lat is None) != (address.lng is None):
        raise InvalidInput(fields={"lat": [_("Give both lat and lng, or neither.")]})
    try:
        # The default's uniqueness is the caller's business (it unsets the old default first).
        address.full_clean(exclude=["user"], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise InvalidInput(fields=error.message_dict) from None


def _make_default(address: Address) -> None:
    """Called with the owner's row locked: the old default is unset before the new one is set,
    so the partial unique index never sees two."""
    Address.objects.filter(user_id=address.user_id, is_default=True).exclude(pk=address.pk).update(is_default=False)
    Address.objects.filter(pk=address.pk).update(is_default=True)
    address.is_default = True


def _values(address: Address) -> dict:
    return {field: getattr(address, field) for field in (*ADDRESS_FIELDS, "is_default")}


def _save(callable_):
    try:
        with transaction.atomic():
            return callable_()
    except IntegrityError:
        # Only reachable by a writer that bypassed the owner's lock (e.g. the admin).
        raise Conflict(_("Your addresses changed at the same time; please try again.")) from None


@transaction.atomic
def address_create(*, user: User, actor: User | None = None, is_default: bool = False, **fields) -> Address:
    _lock_owner(user)
    count = Address.objects.filter(user=user).count()
    if count >= MAX_ADDRESSES:
        raise InvalidInput(_("You can keep at most %(n)d addresses. Delete one first.") % {"n": MAX_ADDRESSES})
    address = Address(user=user, **{field: fields[field] for field in ADDRESS_FIELDS if field in fields})
    _validate(address)

    def write():
        address.save()
        if is_default or count == 0:
            _make_default(address)
        return address

    _save(write)
    audit_record(actor=actor or user, action="address.create", obj=address, new=_values(address))
    return address


@transaction.atomic
def address_update(*, user: User, address_id, actor: User | None = None, **changes) -> Address:
    """Change some of the address's fields; ``is_default`` True makes it the default (and unsets
    the old one), False leaves the person without a default if it was theirs."""
    _lock_owner(user)
    address = address_get(user=user, address_id=address_id)
    old, new = {}, {}
    for field, value in changes.items():
        if field in (*ADDRESS_FIELDS, "is_default") and getattr(address, field) != value:
            old[field], new[field] = getattr(address, field), value
            if field != "is_default":
                setattr(address, field, value)
    if not new:
        return address
    _validate(address)

    def write():
        fields = [field for field in new if field != "is_default"]
        if fields:
            address.save(update_fields=[*fields, "updated_at"])
        if new.get("is_default") is True:
            _make_default(address)
        elif new.get("is_default") is False:
            Address.objects.filter(pk=address.pk).update(is_default=False)
            address.is_default = False
        return address

    _save(write)
    audit_record(actor=actor or user, action="address.update", obj=address, old=old, new=new)
    return address


@transaction.atomic
def address_delete(*, user: User, address_id, actor: User | None = None) -> None:
    _lock_owner(user)
    address = address_get(user=user, address_id=address_id)
    audit_record(actor=actor or user, action="address.delete", obj=address, old=_values(address))
    address.delete()
