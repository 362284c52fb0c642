"""The history is append-only; its cost per message does not grow with its length."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestrator.definitions import definition_for_run, definition_save
from orchestrator.engine.codec import state_from_json, state_to_json
from orchestrator.engine.decide import decide
from orchestrator.engine.types import Event, EventType, RetryPolicy, StepSpec
from orchestrator.messages import command_parse, reply_envelope
from orchestrator.models import HistoryEntry, Outbox, ProcessInstance
from orchestrator.processes import process_start
from tests.support.engine import reply_take, trip_input


@pytest.mark.usefixtures("trip_workflows")
def test_events_can_be_neither_updated_nor_deleted() -> None:
    process, _ = process_start(workflow="trip-booking", business_key="k", input=trip_input())
    row = HistoryEntry.objects.get(process=process)
    row.note = "edited"
    with pytest.raises(TypeError, match="never updated"):
        row.save()
    with pytest.raises(TypeError, match="never deleted"):
        row.delete()
    with pytest.raises(TypeError, match="never updated"):
        HistoryEntry.objects.filter(process=process).update(note="edited")
    with pytest.raises(TypeError, match="never deleted"):
        HistoryEntry.objects.filter(process=process).delete()


def process_with_history(length: int) -> ProcessInstance:
    """A running process with `length` events: its one step failed and was retried, again and again.

    The history is generated with the pure decision function and written in bulk, which is
    what handling those replies one by one would have written, only faster.
    """
    steps = [
        StepSpec(
            key="poll",
            command="notifications.send",
            retry=RetryPolicy(max_attempts=100_000, initial_delay=0),
            timeout=60,
        )
    ]
    definition = definition_save(name=f"long-{length}", version=1, description="", steps=steps, activate=True)
    process, _ = process_start(workflow=definition.name, business_key="k", input=trip_input())
    spec = definition_for_run(process.definition)
    state = state_from_json(process.state)
    at = timezone.now()
    rows = []
    while state.seq < length:
        at += timedelta(milliseconds=1)
        attempt = state.steps["poll"].attempt
        if state.steps["poll"].status == "running":
            event = Event(
                type=EventType.STEP_FAILED,
                at=at,
                message_id=f"{process.pk}:{state.seq}",
                step="poll",
                attempt=attempt,
                payload={"error": "busy"},
            )
        else:
            event = Event(
                type=EventType.STEP_RETRY_DUE,
                at=at,
                message_id=f"{process.pk}:{state.seq}",
                step="poll",
                attempt=attempt,
            )
        state = decide(spec, state, event).state
        rows.append(
            HistoryEntry(
                process=process,
                seq=state.seq,
                message_id=event.message_id,
                type=event.type,
                step="poll",
                attempt=attempt,
                payload=event.payload,
                created_at=at,
            )
        )
    HistoryEntry.objects.bulk_create(rows, batch_size=2000)
    ProcessInstance.objects.filter(pk=process.pk).update(state=state_to_json(state), seq=state.seq)
    process.refresh_from_db()
    return process


def queries_to_handle_next_reply(process: ProcessInstance) -> list[str]:
    first_command = Outbox.objects.filter(process=process).earliest("id")
    current = process.state["steps"]["poll"]["attempt"]
    command = command_parse(first_command.body).model_copy(update={"attempt": current})
    body = reply_envelope(command, succeeded=False, error="busy")
    with CaptureQueriesContext(connection) as ctx:
        assert reply_take(body).status == "applied"
    return [query["sql"] for query in ctx.captured_queries]


@pytest.mark.django_db
def test_handling_the_10000th_event_costs_the_same_queries_as_the_10th() -> None:
    short = process_with_history(9)  # the reply below is its 10th event
    long = process_with_history(9_999)  # and this one's 10,000th
    assert HistoryEntry.objects.filter(process=long).count() == 9_999
    assert short.state["steps"]["poll"]["status"] == long.state["steps"]["poll"]["status"] == "running"
    short_queries = queries_to_handle_next_reply(short)
    long_queries = queries_to_handle_next_reply(long)
    assert len(short_queries) == len(long_queries)
    # And no query reads the history itself: the only look at it is the duplicate check by id.
    history_reads = [
        q
        for q in long_queries
        if q.lstrip().upper().startswith("SELECT") and "orchestrator_historyentry" in q
    ]
    assert len(history_reads) == 1 and "message_id" in history_reads[0]
