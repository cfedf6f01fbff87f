"""Audit entries are append-only: the database refuses UPDATE and DELETE of them, whatever code (or admin, or
shell) runs. (TRUNCATE is left to the database owner, as for the ledger: the test suite flushes with it.)
An operator who must remove one does it as the database owner, with the trigger dropped, on
the record of a change outside the application."""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION core_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER core_auditentry_append_only BEFORE UPDATE OR DELETE ON core_auditentry
    FOR EACH ROW EXECUTE FUNCTION core_audit_refuse_change();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS core_auditentry_append_only ON core_auditentry;
DROP FUNCTION IF EXISTS core_audit_refuse_change();
"""
SQLITE_FORWARD = [
    f"CREATE TRIGGER core_auditentry_append_only_{op.lower()} BEFORE {op} ON core_auditentry "
    f"BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: {op} on core_auditentry refused'); END;"
    for op in ("UPDATE", "DELETE")
]
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS core_auditentry_append_only_{op.lower()};" for op in ("UPDATE", "DELETE")]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("core", "0003_audit_entry_and_event_request_id")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
