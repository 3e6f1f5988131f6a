"""On PostgreSQL, refuse UPDATE and DELETE of redemptions (append-only).

SQLite relies on the model-level guard. ``manage.py check_ledgers`` checks the rows
against the coupons they redeemed.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION gonghui_coupons_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER coupons_redemption_append_only
    BEFORE UPDATE OR DELETE ON coupons_redemption
    FOR EACH ROW EXECUTE FUNCTION gonghui_coupons_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS coupons_redemption_append_only ON coupons_redemption;
DROP FUNCTION IF EXISTS gonghui_coupons_append_only();
"""


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("coupons", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
