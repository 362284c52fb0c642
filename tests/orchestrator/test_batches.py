"""Replies applied in batches: one transaction for several, each process locked once, the same
outcomes as one at a time; commands marked sent in the next transaction, never lost."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestrator import processes
from orchestrator.messages import reply_envelope
from orchestrator.models import DeadLetter, HistoryEntry, Outbox, ProcessInstance
from orchestrator.outbox import outbox_marks_deferred, outbox_relay
from orchestrator.processes import messages_handle, process_start
from orchestrator.selectors import state_of
from orchestrator.status import StepStatus
from tests.support.engine import SentTasks, last_command, trip_input

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_marks_from_other_tests() -> None:
    from orchestrator import outbox

    outbox._sent_marks.take()


def _trip() -> ProcessInstance:
    process, _ = process_start(workflow="trip-booking", business_key=f"b-{uuid.uuid4()}", input=trip_input())
    return process


def _paid(process: ProcessInstance) -> dict[str, Any]:
    return reply_envelope(
        last_command(process, "payment"),
        succeeded=True,
        output={"payment_id": "pay_1", "amount": "420.00", "currency": "EUR"},
    )


def test_a_batch_applies_every_reply(trip_workflows: None, sent_tasks: SentTasks) -> None:
    trips = [_trip() for _ in range(5)]
    outcomes = messages_handle([_paid(process) for process in trips])
    assert [o.status for o in outcomes] == ["applied"] * 5
    for process in trips:
        process.refresh_from_db()
        assert state_of(process).steps["payment"].status == StepStatus.SUCCEEDED
        assert state_of(process).steps["flight"].status == StepStatus.RUNNING


def test_a_batch_locks_its_processes_in_one_statement_in_id_order(
    on_postgres: None, trip_workflows: None, sent_tasks: SentTasks
) -> None:
    trips = [_trip() for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        outcomes = messages_handle([_paid(process) for process in trips])
    assert [o.status for o in outcomes] == ["applied"] * 5
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 1, "every process of the batch is locked by one statement, in id order"
    assert "ORDER BY" in locks[0]


def test_duplicates_unknown_and_malformed_replies_in_a_batch(
    trip_workflows: None, sent_tasks: SentTasks
) -> None:
    first, second = _trip(), _trip()
    paid = _paid(first)
    unknown = {**_paid(second), "process_id": str(uuid.uuid4())}
    outcomes = messages_handle([paid, paid, unknown, {"not": "a reply"}, _paid(second)])
    assert [o.status for o in outcomes] == ["applied", "duplicate", "dead-letter", "dead-letter", "applied"]
    assert HistoryEntry.objects.filter(message_id=paid["message_id"]).count() == 1
    assert DeadLetter.objects.count() == 2


def test_a_reply_that_breaks_the_batch_is_kept_and_the_others_applied(
    trip_workflows: None, sent_tasks: SentTasks, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = _trip(), _trip()
    real_decide = processes.decide

    def decide(definition: Any, state: Any, event: Any) -> Any:
        if state.process_id == str(bad.pk):
            raise ValueError("a bug in a new release")
        return real_decide(definition, state, event)

    monkeypatch.setattr(processes, "decide", decide)
    outcomes = messages_handle([_paid(good), _paid(bad)])
    assert [o.status for o in outcomes] == ["applied", "dead-letter"]
    assert DeadLetter.objects.get().process_id == str(bad.pk)
    good.refresh_from_db()
    assert state_of(good).steps["payment"].status == StepStatus.SUCCEEDED


def test_commands_sent_in_a_batch_are_marked_in_the_next_transaction(
    trip_workflows: None, sent_tasks: SentTasks, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = _trip(), _trip()
    with outbox_marks_deferred(), django_capture_on_commit_callbacks(execute=True):
        messages_handle([_paid(first)])
    flight = Outbox.objects.get(process=first, task_name="flights.book")
    assert flight.message_id in [call["task_id"] for call in sent_tasks.calls]  # published...
    assert flight.published_at is None  # ...and marked later, without a commit of its own
    with outbox_marks_deferred(), django_capture_on_commit_callbacks(execute=True):
        messages_handle([_paid(second)])
    flight.refresh_from_db()
    assert flight.published_at is not None
    # The relay marks what this process sent before looking for rows to send again.
    sent_tasks.calls.clear()
    outbox_relay(older_than=0)
    assert "flights.book" not in sent_tasks.names()  # the second batch's flight is not sent twice
    assert not Outbox.objects.filter(published_at__isnull=True, discarded_at__isnull=True).exists()


def test_an_unmarked_row_still_goes_out_through_the_relay(
    trip_workflows: None, sent_tasks: SentTasks, django_capture_on_commit_callbacks: Any
) -> None:
    """A worker killed after publishing and before marking: the row is sent again (a duplicate
    the service drops), never lost."""
    from orchestrator import outbox

    process = _trip()
    with outbox_marks_deferred(), django_capture_on_commit_callbacks(execute=True):
        messages_handle([_paid(process)])
    assert outbox._sent_marks.pending()
    outbox._sent_marks.take()  # the worker died with its marks
    sent_tasks.calls.clear()
    outbox_relay(older_than=0)
    assert "flights.book" in sent_tasks.names()
