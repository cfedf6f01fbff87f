"""Entries and transfers are append-only: the database refuses UPDATE and DELETE of them.

Corrections are new transfers. (TRUNCATE, used by test-database flushes, is a statement-level
operation that row triggers do not see; nothing in the application issues it.)
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_immutable BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transfer_immutable BEFORE UPDATE OR DELETE ON ledger_transfer
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS ledger_entry_immutable ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_transfer_immutable ON ledger_transfer;
DROP FUNCTION IF EXISTS ledger_refuse_change();
"""
SQLITE_FORWARD = [
    f"CREATE TRIGGER ledger_{table}_immutable_{op.lower()} BEFORE {op} ON ledger_{table} "
    f"BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable: {op} on ledger_{table} refused'); END;"
    for table in ("entry", "transfer")
    for op in ("UPDATE", "DELETE")
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS ledger_{table}_immutable_{op.lower()};"
    for table in ("entry", "transfer")
    for op in ("UPDATE", "DELETE")
]

SYSTEM_ACCOUNTS = {
    "external:world": "external",
    "platform:fees": "platform_fees",
    "platform:treasury": "platform_treasury",
}


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement, params=None)

    return run


def create_system_accounts(apps, schema_editor):
    Account = apps.get_model("ledger", "Account")
    for code, kind in SYSTEM_ACCOUNTS.items():
        Account.objects.get_or_create(code=code, defaults={"kind": kind})


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
        migrations.RunPython(create_system_accounts, migrations.RunPython.noop),
    ]
