"""Give the staff groups their permissions on the payments models (ARCHITECTURE §3): 0002's
``APPS`` now includes "payments", and its function recomputes every group from the current
models — ops view the payments models (not idempotency records or the fake gateway's storage)
and may change attempts, operations, payouts and reconciliation issues (the admin's ops actions);
super admins everything except writing the ledger; onboard managers nothing."""

import importlib

from django.db import migrations

staff_groups = importlib.import_module("core.migrations.0002_staff_groups")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_staff_groups_refresh"),
        ("payments", "0006_operations_earnings_payouts"),
    ]

    operations = [migrations.RunPython(staff_groups.create_staff_groups, migrations.RunPython.noop)]
