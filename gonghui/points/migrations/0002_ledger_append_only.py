"""On PostgreSQL, refuse UPDATE and DELETE of points entries and lot uses (append-only).

Lots and accounts change (remainders, balances) and are checked against these rows by
``manage.py check_ledgers``. SQLite relies on the model-level guard.
"""

from django.db import migrations

TABLES = ("points_entry", "points_lotuse")
FORWARD = """
CREATE OR REPLACE FUNCTION gonghui_points_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION gonghui_points_append_only();
"""
    for table in TABLES
)
BACKWARD = "".join(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};\n" for table in TABLES) + (
    "DROP FUNCTION IF EXISTS gonghui_points_append_only();\n"
)


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("points", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
