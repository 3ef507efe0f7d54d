# Fewer indexes to write when the expiry sweep updates 100,000 signature requests at once.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "signatures_signaturerequest"


def _plain_booking_indexes(schema_editor):
    """The FK's own index on booking_id: single-column, not unique, not partial. Found by
    introspection and dropped by name, because AlterField(db_index=False) drops EVERY single-column
    index on the column that is not in Meta.indexes — the partial unique index behind the
    one-open-request-per-booking constraint included (Django's schema editor does not exclude
    Meta.constraints there), which would silently lose that guarantee."""
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, TABLE)
    return [
        name
        for name, info in constraints.items()
        if info["columns"] == ["booking_id"]
        and info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and name != "signature_request_one_open_per_booking"
    ]


def drop_booking_fk_index(apps, schema_editor):
    for name in _plain_booking_indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def restore_booking_fk_index(apps, schema_editor):
    if not _plain_booking_indexes(schema_editor):
        name = schema_editor.quote_name("signatures_signaturerequest_booking_id_d2d65b9d")
        schema_editor.execute(f"CREATE INDEX {name} ON {schema_editor.quote_name(TABLE)} (booking_id)")


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0007_vendor_search_entry"),
        ("signatures", "0002_signature_signer_erased_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="signaturerequest",
            name="signatures__status_bac9bb_idx",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="signaturerequest",
                    name="booking",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="signature_requests",
                        to="bookings.booking",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_booking_fk_index, restore_booking_fk_index)],
        ),
        migrations.AlterField(
            model_name="signaturerequest",
            name="token_hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AddIndex(
            model_name="signaturerequest",
            index=models.Index(
                condition=models.Q(("status", "open")), fields=["expires_at"], name="signature_request_open_due"
            ),
        ),
        migrations.AddConstraint(
            model_name="signaturerequest",
            constraint=models.UniqueConstraint(fields=("token_hash",), name="signature_request_token_hash_unique"),
        ),
    ]
