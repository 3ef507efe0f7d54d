"""Staff roles as Django groups (ARCHITECTURE §3; core.services.ROLE_GROUPS maps role → group).

- onboard_manager: reviews vendors — view/change vendor profiles, their documents, pincodes and
  time off; view users (vendor accounts only: core.admin.UserAdmin.get_queryset limits it).
- ops_manager: runs operations — view every core and bookings model except the audit log (the
  system settings too, but not change them); change bookings (the booking admin is read-only
  anyway; ops actions will check this permission), add/change promo codes, change addresses.
- super_admin: every permission on core and bookings models except writing the audit log, which
  is append-only for everyone (a super admin is also a superuser, see services._sync_staff_flags).

Payments (``APPS`` gained "payments"; 0007_staff_groups_payments re-runs this): ops_manager views
every payments model except the idempotency records and the fake gateway's storage, and may change
payment attempts, payment operations, payouts and reconciliation issues — the admin offers no edit
form for them, only ops actions that call the payment services, gated on that permission;
super_admin has every payments permission except writing the ledger (ledger transactions and lines
are append-only, view only, like the audit log); onboard_manager has none.

Permissions are normally created by a post_migrate signal, after all migrations have run; this
migration creates them itself first so it works on a fresh database. Staff who already hold a
role are put into their group.

Signatures (0008_staff_groups_signatures): ops view requests, signatures and reviews and may
change requests and reviews; signatures and the chain head are append-only (view only), like the
ledger.

Contact messages (0010_staff_groups_contact): ops view them and may change their status and notes.

Models added to these apps later are covered by re-running ``create_staff_groups`` from a later
migration (it is idempotent), as 0006_staff_groups_refresh and 0007_staff_groups_payments do. On a
fresh database this migration may run before the payments app's own migrations (they do not
depend on each other): only the models present in the migration state are covered then, and 0007,
which runs after payments 0006, completes the groups.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("core", "bookings", "payments", "signatures")
ALL_ACTIONS = ("add", "change", "delete", "view")
AUDIT_LOG = ("core", "auditlog")
# Append-only for everyone: super_admin may view them, nobody may add, change or delete them.
APPEND_ONLY = {
    AUDIT_LOG,
    ("payments", "ledgertransaction"),
    ("payments", "ledgerline"),
    ("signatures", "signature"),
    ("signatures", "signaturechain"),
}
# Not for ops: the audit log is super_admin's; one-time-code rows, idempotency records and the fake
# gateway's storage are nobody's business.
OPS_HIDDEN = {
    AUDIT_LOG,
    ("core", "phoneotp"),
    ("core", "phoneotplock"),
    ("payments", "idempotencyrecord"),
    ("payments", "fakegatewayobject"),
}
# What ops may change besides viewing: (app_label, action, model_name).
OPS_CHANGES = (
    ("bookings", "change", "booking"),
    ("bookings", "add", "promocode"),
    ("bookings", "change", "promocode"),
    ("core", "change", "address"),
    # contact messages: status and notes (core/admin_contact.py; 0010_staff_groups_contact)
    ("core", "change", "contactmessage"),
    # the ops actions of the payments admin (retry, mark paid, manual payment, resolve)
    ("payments", "change", "paymentattempt"),
    ("payments", "change", "paymentoperation"),
    ("payments", "change", "payout"),
    ("payments", "change", "reconciliationissue"),
    # signature requests (resend) and reviews (hide an abusive one)
    ("signatures", "change", "signaturerequest"),
    ("signatures", "change", "review"),
)


def _present_apps(apps):
    """The labels of APPS that have models in this migration state."""
    labels = []
    for label in APPS:
        try:
            apps.get_app_config(label)
        except LookupError:
            continue
        labels.append(label)
    return labels


def _group_permissions(apps):
    """{group name: {(app_label, codename)}} for the models as they are at this migration."""
    models = [
        (label, model._meta.model_name)
        for label in _present_apps(apps)
        for model in apps.get_app_config(label).get_models()
    ]
    present = set(models)

    onboard = {("core", "view_user")}
    for model_name in ("vendorprofile", "vendordocument", "vendorpincode", "vendortimeoff"):
        onboard |= {("core", f"view_{model_name}"), ("core", f"change_{model_name}")}

    ops = {(label, f"view_{model_name}") for label, model_name in models if (label, model_name) not in OPS_HIDDEN}
    ops |= {
        (label, f"{action}_{model_name}") for label, action, model_name in OPS_CHANGES if (label, model_name) in present
    }

    super_admin = {
        (label, f"{action}_{model_name}")
        for label, model_name in models
        for action in ALL_ACTIONS
        if (label, model_name) not in APPEND_ONLY or action == "view"
    }
    return {"onboard_manager": onboard, "ops_manager": ops, "super_admin": super_admin}


# Each group is named after its role's value (core.services.ROLE_GROUPS).
STAFF_GROUPS = ("onboard_manager", "ops_manager", "super_admin")


def create_staff_groups(apps, schema_editor):
    using = schema_editor.connection.alias
    labels = _present_apps(apps)
    for label in labels:
        app_config = apps.get_app_config(label)
        # create_permissions skips app configs without a models module, which every app config
        # of the migration state is.
        app_config.models_module = True
        try:
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("core", "User")
    Membership = User.groups.through

    for group_name, wanted in _group_permissions(apps).items():
        permissions = [
            permission
            for permission in Permission.objects.using(using).filter(
                content_type__app_label__in=labels
            ).select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        found = {(p.content_type.app_label, p.codename) for p in permissions}
        if found != wanted:
            raise RuntimeError(f"Permissions missing for group {group_name}: {sorted(wanted - found)}")
        group, _created = Group.objects.using(using).get_or_create(name=group_name)
        group.permissions.set(permissions)
        Membership.objects.using(using).bulk_create(
            [
                Membership(user_id=user_id, group_id=group.pk)
                for user_id in User.objects.using(using)
                .filter(role=group_name)
                .values_list("pk", flat=True)
            ],
            ignore_conflicts=True,
        )


def delete_staff_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=STAFF_GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("core", "0001_initial"),
        ("bookings", "0002_initial"),
    ]

    operations = [migrations.RunPython(create_staff_groups, delete_staff_groups)]
