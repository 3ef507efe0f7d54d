"""The vendor-search index (``VendorSearchEntry``): what it holds, and keeping it in step.

A vendor covers a pincode when it is in their own list or its centre (core/data/pincodes.csv)
lies inside their radius — the rule ``selectors.vendors_serving`` applies live. The index holds,
for each approved and available vendor, one row per active service they offer (at their price)
and pincode they cover, with their rating and their distance to that pincode.

Kept in step in the same transaction as the change, so a search never sees a vendor that the
change made unbookable: model signals refresh a vendor whenever their profile, pincodes or
services are saved or deleted (this covers the services, the admin and the factories), and the
few bulk writes that send no signals call ``search_entries_refresh`` themselves (vendor pincodes,
ratings after a review, an erased vendor's services). ``manage.py search_index_rebuild`` rebuilds
everything: after a bulk load (seed_bench writes with COPY) or a change of the pincode table;
``--check`` only reports vendors whose rows differ.
"""

import threading
from collections import defaultdict

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete

from bookings.locks import lock_vendors
from bookings.models import Service, VendorSearchEntry, VendorService
from core.geo import haversine_km, pincode_table
from core.models import OnboardingStatus, VendorPincode, VendorProfile

# Saving a vendor with only these fields changed cannot change what the search shows.
IRRELEVANT_VENDOR_FIELDS = frozenset(
    {"updated_at", "working_hours", "bio", "display_name", "experience_years", "payout_account_id"}
)


class _Models:
    """The models the index is computed from: today's, or a migration's historical ones."""

    def __init__(self, apps=None):
        get = apps.get_model if apps else None
        self.VendorProfile = get("core", "VendorProfile") if get else VendorProfile
        self.VendorPincode = get("core", "VendorPincode") if get else VendorPincode
        self.VendorService = get("bookings", "VendorService") if get else VendorService
        self.VendorSearchEntry = get("bookings", "VendorSearchEntry") if get else VendorSearchEntry


def _entries_for(vendor_ids, models=None) -> list[VendorSearchEntry]:
    """The rows the index should hold for ``vendor_ids``, computed from the live tables."""
    m = models or _Models()
    vendors = list(
        m.VendorProfile.objects.filter(
            pk__in=vendor_ids, onboarding_status=OnboardingStatus.APPROVED, is_available=True
        ).values_list("pk", "base_lat", "base_lng", "radius_km", "rating_avg", "rating_count")
    )
    if not vendors:
        return []
    ids = [row[0] for row in vendors]
    listed = defaultdict(set)
    for vendor_id, pincode in m.VendorPincode.objects.filter(vendor_id__in=ids).values_list("vendor_id", "pincode"):
        listed[vendor_id].add(pincode)
    offers = defaultdict(list)
    for vendor_id, service_id, price in m.VendorService.objects.filter(
        vendor_id__in=ids, is_active=True, service__is_active=True
    ).values_list("vendor_id", "service_id", "price"):
        offers[vendor_id].append((service_id, price))
    table = pincode_table()
    entries = []
    for vendor_id, lat, lng, radius, rating_avg, rating_count in vendors:
        if not offers[vendor_id]:
            continue
        distances = {}
        if lat is not None and lng is not None:
            distances = {code: haversine_km(info.lat, info.lng, lat, lng) for code, info in table.items()}
        covered = set(listed[vendor_id]) | {code for code, km in distances.items() if km <= float(radius)}
        for pincode in sorted(covered):
            for service_id, price in offers[vendor_id]:
                entries.append(
                    m.VendorSearchEntry(
                        vendor_id=vendor_id,
                        service_id=service_id,
                        pincode=pincode,
                        price=price,
                        rating_avg=rating_avg,
                        rating_count=rating_count,
                        distance_km=distances.get(pincode),
                    )
                )
    return entries


def search_entries_refresh(vendor_ids) -> int:
    """Replace the index rows of ``vendor_ids`` with what their current data says. Returns how
    many rows they now have."""
    ids = list({vendor_id for vendor_id in vendor_ids if vendor_id is not None})
    if not ids:
        return 0
    with transaction.atomic():
        # Under the vendors' row locks (the order of bookings/locks.py: vendors last, by key): two
        # refreshes of one vendor at once (an admin edit while a review is signed) take turns,
        # and the second deletes what the first wrote instead of colliding with it.
        lock_vendors(ids)
        VendorSearchEntry.objects.filter(vendor_id__in=ids).delete()
        entries = _entries_for(ids)
        VendorSearchEntry.objects.bulk_create(entries, batch_size=2000)
    return len(entries)


def search_index_rebuild(*, batch: int = 1000, apps=None) -> int:
    """Rebuild the whole index, ``batch`` vendors per transaction (``apps``: a migration's
    historical models). Returns the rows written."""
    m = _Models(apps)
    written = 0
    ids = list(m.VendorProfile.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        with transaction.atomic():
            m.VendorSearchEntry.objects.filter(vendor_id__in=chunk).delete()
            entries = _entries_for(chunk, m)
            m.VendorSearchEntry.objects.bulk_create(entries, batch_size=2000)
        written += len(entries)
    return written


def _key(entry) -> tuple:
    return (
        str(entry.vendor_id),
        entry.service_id,
        entry.pincode,
        entry.price,
        entry.rating_avg,
        entry.rating_count,
        None if entry.distance_km is None else round(entry.distance_km, 6),
    )


def search_index_differences(*, batch: int = 1000) -> list:
    """Vendors whose index rows differ from what their data says (empty when in step)."""
    differing = []
    ids = list(VendorProfile.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        wanted, held = defaultdict(set), defaultdict(set)
        for entry in _entries_for(chunk):
            wanted[entry.vendor_id].add(_key(entry))
        for entry in VendorSearchEntry.objects.filter(vendor_id__in=chunk):
            held[entry.vendor_id].add(_key(entry))
        differing += [vendor_id for vendor_id in chunk if wanted[vendor_id] != held[vendor_id]]
    return differing


# --- keeping it in step ----------------------------------------------------------------------------


def _vendor_saved(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or (update_fields and set(update_fields) <= IRRELEVANT_VENDOR_FIELDS):
        return
    search_entries_refresh([instance.pk])


_deleting = threading.local()  # vendors whose deletion is under way in this thread


def _vendors_being_deleted() -> set:
    if not hasattr(_deleting, "ids"):
        _deleting.ids = set()
    return _deleting.ids


def _vendor_deleting(sender, instance, **kwargs):
    # Deleting a vendor deletes their index rows first, then their pincodes and services; the
    # refresh those would trigger must not write rows for a vendor about to disappear.
    _vendors_being_deleted().add(instance.pk)


def _vendor_deleted(sender, instance, **kwargs):
    _vendors_being_deleted().discard(instance.pk)


def _vendor_part_changed(sender, instance, raw=False, **kwargs):
    if raw or instance.vendor_id in _vendors_being_deleted():
        return
    search_entries_refresh([instance.vendor_id])


def _service_saved(sender, instance, raw=False, **kwargs):
    if raw:
        return
    vendor_ids = VendorService.objects.filter(service=instance).values_list("vendor_id", flat=True)
    search_entries_refresh(list(vendor_ids))


def connect_signals():
    post_save.connect(_vendor_saved, sender=VendorProfile, dispatch_uid="search-index-vendor")
    pre_delete.connect(_vendor_deleting, sender=VendorProfile, dispatch_uid="search-index-vendor-deleting")
    post_delete.connect(_vendor_deleted, sender=VendorProfile, dispatch_uid="search-index-vendor-deleted")
    for model in (VendorPincode, VendorService):
        post_save.connect(_vendor_part_changed, sender=model, dispatch_uid=f"search-index-{model.__name__}-save")
        post_delete.connect(_vendor_part_changed, sender=model, dispatch_uid=f"search-index-{model.__name__}-delete")
    post_save.connect(_service_saved, sender=Service, dispatch_uid="search-index-service")
