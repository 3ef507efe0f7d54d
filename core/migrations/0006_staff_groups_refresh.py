"""Give the staff groups their permissions on the models added since 0002 (notifications,
deliveries, reminders): 0002's function recomputes every group from the current models."""

import importlib

from django.db import migrations

staff_groups = importlib.import_module("core.migrations.0002_staff_groups")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_notification_delivery_otp"),
        ("bookings", "0004_booking_reminder"),
    ]

    operations = [migrations.RunPython(staff_groups.create_staff_groups, migrations.RunPython.noop)]
