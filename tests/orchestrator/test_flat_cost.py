"""Flat cost: handling an event costs the same whatever the history behind it. The engine acts on
the process's snapshot and appends to its history; it never reads the history to decide."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestrator.engine.codec import state_to_json
from orchestrator.messages import reply_envelope
from orchestrator.models import HistoryEntry, ProcessInstance
from orchestrator.processes import process_start
from orchestrator.selectors import state_of
from tests.support.engine import SentTasks, last_command, reply_take, trip_input

pytestmark = pytest.mark.django_db

LONG_HISTORY = 10_000
HISTORY_TABLE = HistoryEntry._meta.db_table


def _trip_with_history(events: int) -> ProcessInstance:
    """A trip waiting for its payment, `events` entries of history behind it (operator notes, as
    years of a long-lived process would leave)."""
    process, _ = process_start(workflow="trip-booking", business_key=f"b-{uuid.uuid4()}", input=trip_input())
    now = datetime.now(UTC)
    HistoryEntry.objects.bulk_create(
        HistoryEntry(
            process=process,
            seq=process.seq + n,
            message_id=f"pad-{process.pk}-{n}",
            type="note",
            reason="an earlier chapter of this process",
            created_at=now,
        )
        for n in range(1, events + 1)
    )
    state = replace(state_of(process), seq=process.seq + events)
    ProcessInstance.objects.filter(pk=process.pk).update(seq=state.seq, state=state_to_json(state))
    process.refresh_from_db()
    return process


def _payment_taken(process: ProcessInstance) -> list[str]:
    """The statements the engine runs to apply the payment's reply."""
    reply = reply_envelope(
        last_command(process, "payment"),
        succeeded=True,
        output={"payment_id": "pay_1", "amount": "420.00", "currency": "EUR"},
    )
    with CaptureQueriesContext(connection) as captured:
        outcome = reply_take(reply)
    assert outcome.status == "applied", outcome
    return [query["sql"] for query in captured.captured_queries]


def _shape(sql: str) -> str:
    """A statement with its values left out, to compare two runs' statements."""
    return re.sub(r"'[^']*'|\d+", "?", sql)


def test_an_event_costs_the_same_statements_after_ten_thousand(
    trip_workflows: None, sent_tasks: SentTasks
) -> None:
    short = _payment_taken(_trip_with_history(10))
    long = _payment_taken(_trip_with_history(LONG_HISTORY))
    assert [_shape(sql) for sql in long] == [_shape(sql) for sql in short]


def test_the_history_is_read_only_through_an_index_when_an_event_is_handled(
    on_postgres: None, trip_workflows: None, sent_tasks: SentTasks
) -> None:
    """PostgreSQL's plans for the reads of the history, on a long history."""
    process = _trip_with_history(LONG_HISTORY)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {HISTORY_TABLE}")  # the planner knows the table is long
    statements = _payment_taken(process)
    reads = [sql for sql in statements if HISTORY_TABLE in sql and sql.lstrip().startswith("SELECT")]
    assert reads, "a reply is checked against the history (duplicates are dropped)"
    looked_up = 0
    with connection.cursor() as cursor:
        for sql in reads:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            for node in _plan_nodes(cursor.fetchone()[0][0]["Plan"]):
                if node.get("Relation Name") == HISTORY_TABLE:
                    assert "Index" in node["Node Type"], (sql, node)
                    assert node["Actual Rows"] <= 1, (sql, node)
                    looked_up += 1
    assert looked_up, "the plans were read"


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)
