"""Give ops_manager the change permission on contact messages (0002's ``OPS_CHANGES`` now names it;
view comes with every core model) and super_admin its permissions on the new model: re-run
0002's idempotent ``create_staff_groups`` on the current models."""

import importlib

from django.db import migrations

staff_groups = importlib.import_module("core.migrations.0002_staff_groups")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0009_address_checks_user_anonymised_contactmessage"),
    ]

    operations = [migrations.RunPython(staff_groups.create_staff_groups, migrations.RunPython.noop)]
