"""A request's timeline and decisions are append-only, and what it asked (payload, why it fired, the question)
never changes once stored: the database refuses it, whatever code runs."""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION reviews_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'review rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION reviews_refuse_request_rewrite() RETURNS trigger AS $$
BEGIN
    IF NEW.payload IS DISTINCT FROM OLD.payload OR NEW.why IS DISTINCT FROM OLD.why
       OR NEW.question IS DISTINCT FROM OLD.question OR NEW.requester_id IS DISTINCT FROM OLD.requester_id
       OR NEW.checkpoint IS DISTINCT FROM OLD.checkpoint OR NEW.subject IS DISTINCT FROM OLD.subject THEN
        RAISE EXCEPTION 'a review request''s question, payload and reasons are immutable'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER reviews_event_append_only BEFORE UPDATE OR DELETE ON reviews_reviewevent
    FOR EACH ROW EXECUTE FUNCTION reviews_refuse_change();
CREATE TRIGGER reviews_decision_append_only BEFORE UPDATE OR DELETE ON reviews_reviewdecision
    FOR EACH ROW EXECUTE FUNCTION reviews_refuse_change();
CREATE TRIGGER reviews_request_immutable_ask BEFORE UPDATE ON reviews_reviewrequest
    FOR EACH ROW EXECUTE FUNCTION reviews_refuse_request_rewrite();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS reviews_event_append_only ON reviews_reviewevent;
DROP TRIGGER IF EXISTS reviews_decision_append_only ON reviews_reviewdecision;
DROP TRIGGER IF EXISTS reviews_request_immutable_ask ON reviews_reviewrequest;
DROP FUNCTION IF EXISTS reviews_refuse_change();
DROP FUNCTION IF EXISTS reviews_refuse_request_rewrite();
"""
SQLITE_FORWARD = [
    *(
        f"CREATE TRIGGER reviews_{table}_append_only_{op.lower()} BEFORE {op} ON reviews_{table} "
        f"BEGIN SELECT RAISE(ABORT, 'review rows are append-only: {op} on reviews_{table} refused'); END;"
        for table in ("reviewevent", "reviewdecision")
        for op in ("UPDATE", "DELETE")
    ),
    "CREATE TRIGGER reviews_request_immutable_ask BEFORE UPDATE ON reviews_reviewrequest "
    "WHEN NEW.payload IS NOT OLD.payload OR NEW.why IS NOT OLD.why OR NEW.question IS NOT OLD.question "
    "OR NEW.requester_id IS NOT OLD.requester_id OR NEW.checkpoint IS NOT OLD.checkpoint "
    "OR NEW.subject IS NOT OLD.subject "
    "BEGIN SELECT RAISE(ABORT, 'a review request''s question, payload and reasons are immutable'); END;",
]
SQLITE_BACKWARD = [
    *(
        f"DROP TRIGGER IF EXISTS reviews_{table}_append_only_{op.lower()};"
        for table in ("reviewevent", "reviewdecision")
        for op in ("UPDATE", "DELETE")
    ),
    "DROP TRIGGER IF EXISTS reviews_request_immutable_ask;",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
