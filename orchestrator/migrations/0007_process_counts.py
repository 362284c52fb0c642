"""Process counts by workflow and status, kept by triggers on the processes table (PostgreSQL).

Counting a million processes on every dashboard refresh and every scrape took hundreds of
milliseconds; the counters now sum a few rows of `orchestrator_processcount` (decision 39).

- INSERT and DELETE: one statement-level trigger each, adding the statement's rows by
  (workflow, status) from its transition table (a COPY of a million rows costs one upsert).
- UPDATE: a row-level trigger, only on rows whose status (or workflow) changed, so the many
  transitions that keep the status cost nothing (the engine's batched UPDATE ... FROM (VALUES ...)
  fires it like any other).
- TRUNCATE: empties the counts.

Each transaction writes to a shard of its own (`orchestrator_count_shard`): the first shard, from
its backend's pid on, whose transaction-level advisory lock it can take. Two transactions at work
at the same time thus never wait for each other's counter rows, nor deadlock on them; only when
all 32 shards are taken do they share one. The migration backfills the counts under the trigger's
lock, which holds off writers until it commits. Elsewhere (SQLite) the table stays empty and
orchestrator.selectors counts with GROUP BY.
"""

from django.db import migrations, models

SHARDS = 32
# The advisory locks' first key: a constant of this project's own ("orch" on a phone keypad).
LOCK_CLASS = 6724

CREATE = f"""
CREATE FUNCTION orchestrator_count_shard() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    chosen text := current_setting('orchestrator.count_shard', true);
    first integer := pg_backend_pid() % {SHARDS};
BEGIN
    IF chosen IS NOT NULL AND chosen <> '' THEN
        RETURN chosen::integer;
    END IF;
    FOR i IN 0..{SHARDS - 1} LOOP
        IF pg_try_advisory_xact_lock({LOCK_CLASS}, (first + i) % {SHARDS}) THEN
            PERFORM set_config('orchestrator.count_shard', ((first + i) % {SHARDS})::text, true);
            RETURN (first + i) % {SHARDS};
        END IF;
    END LOOP;
    -- Every shard is held by a transaction at work: share this backend's (its rows may wait).
    PERFORM set_config('orchestrator.count_shard', first::text, true);
    RETURN first;
END $$;

CREATE FUNCTION orchestrator_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO orchestrator_processcount AS c (workflow_name, status, shard, n)
    SELECT workflow_name, status, orchestrator_count_shard(), count(*)
    FROM inserted GROUP BY workflow_name, status
    ON CONFLICT (workflow_name, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION orchestrator_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO orchestrator_processcount AS c (workflow_name, status, shard, n)
    SELECT workflow_name, status, orchestrator_count_shard(), -count(*)
    FROM deleted GROUP BY workflow_name, status
    ON CONFLICT (workflow_name, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION orchestrator_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this_shard integer := orchestrator_count_shard();
BEGIN
    INSERT INTO orchestrator_processcount AS c (workflow_name, status, shard, n)
    VALUES (OLD.workflow_name, OLD.status, this_shard, -1), (NEW.workflow_name, NEW.status, this_shard, 1)
    ON CONFLICT (workflow_name, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION orchestrator_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM orchestrator_processcount;
    RETURN NULL;
END $$;

CREATE TRIGGER process_count_inserted AFTER INSERT ON orchestrator_processinstance
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION orchestrator_count_inserted();
CREATE TRIGGER process_count_deleted AFTER DELETE ON orchestrator_processinstance
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION orchestrator_count_deleted();
CREATE TRIGGER process_count_moved AFTER UPDATE OF status, workflow_name ON orchestrator_processinstance
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.workflow_name IS DISTINCT FROM NEW.workflow_name)
    EXECUTE FUNCTION orchestrator_count_moved();
CREATE TRIGGER process_count_truncated AFTER TRUNCATE ON orchestrator_processinstance
    FOR EACH STATEMENT EXECUTE FUNCTION orchestrator_count_truncated();

-- The processes as they are now; the triggers' lock keeps writers out until this commits.
INSERT INTO orchestrator_processcount (workflow_name, status, shard, n)
SELECT workflow_name, status, 0, count(*) FROM orchestrator_processinstance GROUP BY workflow_name, status;
"""

DROP = """
DROP TRIGGER IF EXISTS process_count_inserted ON orchestrator_processinstance;
DROP TRIGGER IF EXISTS process_count_deleted ON orchestrator_processinstance;
DROP TRIGGER IF EXISTS process_count_moved ON orchestrator_processinstance;
DROP TRIGGER IF EXISTS process_count_truncated ON orchestrator_processinstance;
DROP FUNCTION IF EXISTS orchestrator_count_inserted();
DROP FUNCTION IF EXISTS orchestrator_count_deleted();
DROP FUNCTION IF EXISTS orchestrator_count_moved();
DROP FUNCTION IF EXISTS orchestrator_count_truncated();
DROP FUNCTION IF EXISTS orchestrator_count_shard();
"""


def triggers_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # the SQL holds % (modulo)


def triggers_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("orchestrator", "0006_history_entry"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProcessCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("workflow_name", models.CharField(max_length=100)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("running", "Running"),
                            ("paused", "Paused"),
                            ("failed", "Waiting for an operator"),
                            ("compensating", "Compensating"),
                            ("completed", "Completed"),
                            ("compensated", "Compensated"),
                            ("cancelled", "Cancelled"),
                        ],
                        max_length=16,
                    ),
                ),
                ("shard", models.PositiveSmallIntegerField()),
                ("n", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("workflow_name", "status", "shard"), name="process_count_workflow_status_shard"
                    )
                ],
            },
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
