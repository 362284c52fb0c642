"""A transition's reads and writes on PostgreSQL, in two statements whatever the batch.

Through the ORM a reply cost eight round trips (mark the commands sent, lock, look for a duplicate,
insert the history, update the snapshot, insert the commands, the keys, discard what an ended
process did not send) and as much again in Python around them. Here:

1. `processes_lock`: one SELECT ... FOR UPDATE reads the locked processes with their frozen
   definition's stamp and which of the incoming message ids their history already holds. That
   read of the history sees it as it stood when the statement began: when the lock had to wait
   for another transaction that changed a process (its `seq` as locked differs from its `seq` as
   the statement first saw it), the history is read again in a statement of its own, which sees
   what that transaction wrote;
2. `transitions_write`: one statement of data-modifying CTEs writes everything the transitions
   decided, each table's rows passed as one JSON document (`jsonb_to_recordset`).

Other databases (SQLite in embedded mode) take the ORM's path in orchestrator.processes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from orchestrator.models import HistoryEntry, Outbox, ProcessInstance, ProcessKey
from orchestrator.snapshots import SNAPSHOT_COLUMNS

_PROCESSES = ProcessInstance._meta.db_table
_HISTORY = HistoryEntry._meta.db_table
_OUTBOX = Outbox._meta.db_table
_KEYS = ProcessKey._meta.db_table
_DEFINITIONS = "orchestrator_workflowdefinition"
HISTORY_FIELDS = (
    *("process_id", "seq", "message_id", "type", "step", "attempt"),
    *("payload", "actor", "reason", "note", "created_at"),
)


@dataclass(frozen=True)
class Locked:
    """A process locked for a transition, as the transition needs it."""

    instance: ProcessInstance
    definition_id: int
    definition_frozen_at: datetime | None


_LOCK = f"""
SELECT p.id, p.definition_id, d.frozen_at, p.workflow_name, p.business_key, p.status, p.input,
       p.context, p.state, p.seq, p.created_at,
       (SELECT before.seq FROM {_PROCESSES} before WHERE before.id = p.id) AS seq_before_lock,
       ARRAY(SELECT h.message_id FROM {_HISTORY} h WHERE h.message_id = ANY(%(messages)s)) AS seen
FROM {_PROCESSES} p JOIN {_DEFINITIONS} d ON d.id = p.definition_id
WHERE p.id = ANY(%(processes)s::uuid[])
ORDER BY p.id
FOR UPDATE OF p
"""
_SEEN = f"SELECT message_id FROM {_HISTORY} WHERE message_id = ANY(%s)"


def processes_lock(
    process_ids: Sequence[str], message_ids: Sequence[str]
) -> tuple[dict[str, Locked], set[str]]:
    """Lock the processes (in id order: two workers never deadlock) and read them, by id; and
    which of the message ids the history holds already."""
    found: dict[str, Locked] = {}
    seen: set[str] = set()  # the same on every row: the history, as the statement first saw it
    changed_while_waiting = False
    with connection.cursor() as cursor:
        cursor.execute(_LOCK, {"processes": list(process_ids), "messages": list(message_ids)})
        for row in cursor.fetchall():
            (
                pk,
                definition_id,
                frozen_at,
                workflow,
                key,
                status,
                input_,
                context,
                state,
                seq,
                created,
                seq_before_lock,
                seen_then,
            ) = row
            seen.update(seen_then)
            changed_while_waiting |= seq != seq_before_lock
            instance = ProcessInstance(
                id=pk,
                definition_id=definition_id,
                workflow_name=workflow,
                business_key=key,
                status=status,
                input=_json(input_),
                context=_json(context),
                state=_json(state),
                seq=seq,
                created_at=created,
            )
            instance._state.adding = False  # a row of the table, not a new one
            found[str(pk)] = Locked(instance, definition_id, frozen_at)
        if changed_while_waiting:  # another transaction's history is not in `seen`: read again
            cursor.execute(_SEEN, [list(message_ids)])
            seen = {message_id for (message_id,) in cursor.fetchall()}
    return found, seen


def _json(value: Any) -> Any:
    # Django reads jsonb as text and decodes it in the field; a raw cursor gets that text.
    return json.loads(value) if isinstance(value, str | bytes) else value


_WRITE = f"""
WITH
marks AS (
    UPDATE {_OUTBOX} SET published_at = %(now)s, publish_attempts = publish_attempts + 1
    WHERE id = ANY(%(marks)s)
),
history AS (
    INSERT INTO {_HISTORY} (process_id, seq, message_id, type, step, attempt, payload, actor, reason,
                            note, created_at)
    SELECT process_id, seq, message_id, type, step, attempt, payload, actor, reason, note, created_at
    FROM jsonb_to_recordset(%(history)s::jsonb) AS x(
        process_id uuid, seq integer, message_id text, type text, step text, attempt integer,
        payload jsonb, actor text, reason text, note text, created_at timestamptz)
),
snapshots AS (
    UPDATE {_PROCESSES} p SET {", ".join(f"{name} = v.{name}" for name in (*SNAPSHOT_COLUMNS, "updated_at"))}
    FROM jsonb_to_recordset(%(snapshots)s::jsonb) AS v(
        id uuid, state jsonb, status text, context jsonb, seq integer, wake_at timestamptz,
        ended_at timestamptz, active_steps text, max_attempt integer, in_doubt boolean,
        retrying_attempt integer, updated_at timestamptz)
    WHERE p.id = v.id
),
keys AS (
    INSERT INTO {_KEYS} (process_id, step, name, value)
    SELECT process_id, step, name, value
    FROM jsonb_to_recordset(%(keys)s::jsonb) AS x(process_id uuid, step text, name text, value text)
    ON CONFLICT (process_id, step, name) DO UPDATE SET value = EXCLUDED.value
),
discards AS (
    -- What an ended process never sent must not go out later (not the rows this statement
    -- marks sent: a statement may not change a row twice).
    UPDATE {_OUTBOX} SET discarded_at = %(now)s
    WHERE process_id = ANY(%(ended)s::uuid[]) AND published_at IS NULL AND discarded_at IS NULL
      AND id <> ALL(%(marks)s)
),
commands AS (
    INSERT INTO {_OUTBOX} (process_id, message_id, task_name, queue, body, created_at, discarded_at,
                           publish_attempts, last_error)
    SELECT process_id, message_id, task_name, queue, body, created_at, discarded_at, 0, ''
    FROM jsonb_to_recordset(%(outbox)s::jsonb) AS x(
        process_id uuid, message_id text, task_name text, queue text, body jsonb,
        created_at timestamptz, discarded_at timestamptz)
    RETURNING id, message_id
)
SELECT id, message_id FROM commands
"""
# Two statements in one string: sent together by the simple query protocol (Django's cursor binds
# parameters on the client side), the results of the first read back.
_WRITE_AND_COMMIT = _WRITE + ";\nCOMMIT"


def transitions_write(
    *,
    history: Sequence[HistoryEntry],
    snapshots: Sequence[ProcessInstance],
    outbox: Sequence[Outbox],
    keys: Sequence[ProcessKey],
    ended: Sequence[str],
    marks: Sequence[int],
    now: datetime,
    commit: bool = False,
) -> None:
    """Write what transitions decided in one statement; the outbox rows get their ids.

    `commit`: the write is the transaction's last statement, and the COMMIT goes with it, in the
    same round trip (Django's own commit at the end of the atomic block then has nothing left to
    do; its on-commit hooks run as ever, after it)."""
    document: dict[str, Any] = {
        "now": now,
        "marks": list(marks),
        "ended": list(ended),
        "history": _rows(
            history,
            HISTORY_FIELDS,
        ),
        "snapshots": _rows(snapshots, ("id", *SNAPSHOT_COLUMNS, "updated_at")),
        "keys": _rows(keys, ("process_id", "step", "name", "value")),
        "outbox": _rows(
            outbox, ("process_id", "message_id", "task_name", "queue", "body", "created_at", "discarded_at")
        ),
    }
    with connection.cursor() as cursor:
        cursor.execute(_WRITE_AND_COMMIT if commit else _WRITE, document)
        ids = {message_id: pk for pk, message_id in cursor.fetchall()}
    for row in outbox:
        row.pk = ids[row.message_id]
        row._state.adding = False


def _rows(objects: Sequence[Any], fields: Sequence[str]) -> str:
    """The objects' fields as a JSON array of objects (times with their microseconds)."""
    return json.dumps([{name: getattr(obj, name) for name in fields} for obj in objects], default=_encode)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # a UUID
