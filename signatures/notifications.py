"""Many notifications at once, for the sweeps: ``core.notifications.notify_bulk`` (it moved to
core, where the reminder and payout sweeps use it too). Kept so the signature sweeps' imports
read as they did."""

from core.notifications import Message, notify_bulk

__all__ = ["Message", "notify_bulk"]
