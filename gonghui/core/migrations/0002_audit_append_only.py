"""On PostgreSQL, refuse UPDATE and DELETE of audit events at the database level.

TRUNCATE is left to privileges: the application's database role should not own the
table (docs/DEPLOYMENT.md); test runs truncate tables between transactional tests.
SQLite, the single-user development default, relies on the model-level guard.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION gonghui_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'core_auditevent is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER core_auditevent_append_only
    BEFORE UPDATE OR DELETE ON core_auditevent
    FOR EACH ROW EXECUTE FUNCTION gonghui_audit_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;
DROP FUNCTION IF EXISTS gonghui_audit_append_only();
"""

def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
