"""Booking use cases, split by area. Import from the submodules, e.g.
``from bookings.services.transitions import booking_accept``."""
