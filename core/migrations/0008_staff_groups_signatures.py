"""Give the staff groups their permissions on the signatures models: 0002's ``APPS`` now includes
"signatures"; its function recomputes every group from the current models."""

import importlib

from django.db import migrations

staff_groups = importlib.import_module("core.migrations.0002_staff_groups")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_staff_groups_payments"),
        ("signatures", "0001_initial"),
    ]

    operations = [migrations.RunPython(staff_groups.create_staff_groups, migrations.RunPython.noop)]
