"""The engine's shell against the database: start, replies, duplicates, dead letters, outbox."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from orchestrator.definitions import definition_for_run
from orchestrator.engine.codec import state_from_json, state_to_json
from orchestrator.engine.decide import replay
from orchestrator.engine.types import Event
from orchestrator.messages import reply_envelope
from orchestrator.models import DeadLetter, HistoryEntry, Outbox, ProcessInstance
from orchestrator.outbox import outbox_publish, outbox_relay
from orchestrator.processes import WorkflowNotFound, process_start, timers_fire
from orchestrator.selectors import history_events
from tests.support.engine import SentTasks, answer, last_command, reply_take, trip_input
from tests.support.people import an_operator

pytestmark = pytest.mark.usefixtures("trip_workflows")

TRIP = {
    "reference": "TRP-TEST01",
    "customer_name": "Ada",
    "customer_email": "ada@example.com",
    "amount": "420.00",
    "currency": "EUR",
    "itinerary": {},
}


def start(key: str = "TRP-TEST01") -> ProcessInstance:
    process, created = process_start(
        workflow="trip-booking", business_key=key, input={**TRIP, "reference": key}
    )
    assert created
    return process


def history(process: ProcessInstance) -> list[Event]:
    return history_events(process)


def assert_snapshot_is_the_fold_of_history(process: ProcessInstance) -> None:
    process.refresh_from_db()
    definition = definition_for_run(process.definition)
    replayed = replay(definition, str(process.pk), history(process))
    assert state_to_json(replayed) == process.state
    assert process.seq == len(history(process))


def test_start_records_the_first_event_and_the_first_command() -> None:
    process = start()
    assert process.status == "running"
    assert [e.type for e in history(process)] == ["process.started"]
    (row,) = Outbox.objects.filter(process=process)
    assert (row.task_name, row.queue, row.published_at) == ("payments.charge", "payments", None)
    assert row.body["idempotency_key"] == f"{process.pk}:payment"
    assert row.body["payload"]["input"]["amount"] == "420.00"
    assert process.definition.frozen_at is not None  # a used version never changes


def test_starting_twice_with_the_same_business_key_returns_the_first() -> None:
    first = start()
    again, created = process_start(workflow="trip-booking", business_key="TRP-TEST01", input=trip_input())
    assert (again.pk, created) == (first.pk, False)
    assert ProcessInstance.objects.count() == 1


def test_unknown_workflow_is_refused() -> None:
    with pytest.raises(WorkflowNotFound, match="no active version of workflow 'nope'"):
        process_start(workflow="nope", business_key="k", input=trip_input())


def test_replies_drive_the_saga_to_completion_and_the_snapshot_folds_the_history() -> None:
    process = start()
    for step in ("payment", "flight", "hotel", "notify"):
        answer(last_command(process, step), ref=step)
    process.refresh_from_db()
    assert process.status == "completed"
    assert process.ended_at is not None
    assert process.wake_at is None
    assert set(process.context) == {"payment", "flight", "hotel", "notify"}
    assert_snapshot_is_the_fold_of_history(process)


def test_a_duplicate_message_is_dropped_before_it_reaches_the_history() -> None:
    process = start()
    body = answer(last_command(process, "payment"))
    assert reply_take(body).status == "duplicate"
    assert HistoryEntry.objects.filter(process=process).count() == 2
    assert Outbox.objects.filter(process=process, task_name="flights.book").count() == 1


def test_a_late_reply_is_recorded_with_a_note_and_changes_nothing() -> None:
    process = start()
    charge = last_command(process, "payment")
    answer(charge)
    process.refresh_from_db()
    before = process.state
    answer(charge)  # the same command executed a second time: a new reply id, same attempt
    process.refresh_from_db()
    late = HistoryEntry.objects.filter(process=process).order_by("-seq").first()
    assert late is not None and "late reply" in late.note
    assert {k: v for k, v in process.state["steps"].items()} == before["steps"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not even json-like", "malformed message"),
        ({"message_id": "m1"}, "malformed message: process_id: Field required"),
        (
            {
                "message_id": "m1",
                "process_id": str(uuid.uuid4()),
                "step": "payment",
                "attempt": 1,
                "type": "step.exploded",
                "payload": {},
            },
            "malformed message: type",
        ),
    ],
)
def test_malformed_messages_become_dead_letters(body: Any, reason: str) -> None:
    outcome = reply_take(body)
    assert outcome.status == "dead-letter"
    letter = DeadLetter.objects.get()
    assert letter.reason.startswith(reason)
    assert letter.task_name == "orchestrator.event"


def test_a_reply_for_an_unknown_process_becomes_a_dead_letter() -> None:
    process = start()
    body = {
        **answer(last_command(process, "payment")),
        "message_id": "other",
        "process_id": str(uuid.uuid4()),
    }
    assert reply_take(body).status == "dead-letter"
    assert DeadLetter.objects.get().reason == "unknown process"


def test_outbox_is_published_only_after_commit(
    django_capture_on_commit_callbacks: Any, sent_tasks: SentTasks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        process = start()
    assert sent_tasks.calls == []  # nothing left before the transaction committed
    for callback in callbacks:
        callback()
    (call,) = [c for c in sent_tasks.calls if c["name"] == "payments.charge"]
    assert call["queue"] == "payments"
    assert call["args"][0]["process_id"] == str(process.pk)
    assert Outbox.objects.get(process=process).published_at is not None


def test_relay_publishes_rows_left_unpublished(sent_tasks: SentTasks) -> None:
    process = start()  # on_commit never ran: as if the process died right after committing
    row = Outbox.objects.get(process=process)
    assert outbox_relay(now=row.created_at + timedelta(seconds=1)) == 0  # still within its grace period
    assert outbox_relay(now=row.created_at + timedelta(seconds=6)) == 1
    assert sent_tasks.names() == ["payments.charge"]
    row.refresh_from_db()
    assert row.published_at is not None and row.publish_attempts == 1
    assert outbox_relay(now=row.created_at + timedelta(seconds=60)) == 0


def test_a_failed_publish_is_kept_for_the_relay(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator import publishing

    process = start()
    row = Outbox.objects.get(process=process)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(publishing, "_publish_one", broker_down)
    assert outbox_publish(rows=[row]) == 0
    row.refresh_from_db()
    assert row.published_at is None
    assert "broker unreachable" in row.last_error


def test_timers_fire_due_timeouts_and_retries() -> None:
    process = start()
    process.refresh_from_db()
    assert process.wake_at is not None
    assert timers_fire(now=process.wake_at - timedelta(seconds=1)) == 0
    assert timers_fire(now=process.wake_at + timedelta(milliseconds=1)) == 1
    process.refresh_from_db()
    step = process.state["steps"]["payment"]
    assert step["status"] == "retrying" and step["in_doubt"] is True
    assert timers_fire(now=process.wake_at + timedelta(milliseconds=1)) == 1
    process.refresh_from_db()
    assert process.state["steps"]["payment"]["attempt"] == 2
    retry = last_command(process, "payment")
    assert (retry.attempt, retry.idempotency_key) == (2, f"{process.pk}:payment")
    assert [e.type for e in history(process)][-2:] == ["step.timed_out", "step.retry_due"]
    assert_snapshot_is_the_fold_of_history(process)


def test_a_broken_process_does_not_stop_the_timer_sweep() -> None:
    broken = start("TRP-BROKEN")
    healthy = start("TRP-HEALTH")
    ProcessInstance.objects.filter(pk=broken.pk).update(state={"garbage": True})
    now = timezone.now() + timedelta(minutes=5)
    assert timers_fire(now=now) == 1
    healthy.refresh_from_db()
    broken.refresh_from_db()
    assert healthy.state["steps"]["payment"]["in_doubt"] is True
    assert broken.wake_at is not None and broken.wake_at > now  # postponed, not hot-looping
    # ... and shown where operators look, once, not at every sweep.
    (letter,) = DeadLetter.objects.filter(process_id=str(broken.pk))
    assert letter.reason.startswith("timers could not be fired: KeyError")
    timers_fire(now=broken.wake_at)
    assert DeadLetter.objects.filter(process_id=str(broken.pk)).count() == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"output": "not an object"}, "payload.output of a success must be an object"),
    ],
)
def test_a_success_with_a_bad_payload_becomes_a_dead_letter(payload: dict[str, Any], reason: str) -> None:
    process = start()
    body = reply_envelope(last_command(process, "payment"), succeeded=True, output={})
    body["payload"] = payload
    assert reply_take(body).status == "dead-letter"
    assert reason in DeadLetter.objects.get().reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"attempt": 2**63}, "attempt: Input should be less than or equal to 2147483647"),
        (
            {"payload": {"error": "x", "business": "false"}},
            "payload.business of a failure must be true or false",
        ),
        ({"payload": {"error": 42}}, "payload.error of a failure must be a string"),
    ],
)
def test_a_failure_with_bad_fields_becomes_a_dead_letter(change: dict[str, Any], reason: str) -> None:
    process = start()
    body = {**reply_envelope(last_command(process, "payment"), succeeded=False, error="x"), **change}
    assert reply_take(body).status == "dead-letter"
    assert reason in DeadLetter.objects.get().reason
    process.refresh_from_db()
    assert process.seq == 1  # nothing reached the history


def test_a_message_that_breaks_the_transition_is_kept_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator import processes

    process = start()
    body = reply_envelope(last_command(process, "payment"), succeeded=True, output={"payment_id": "p"})

    def broken_decide(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a bug in a new release")

    monkeypatch.setattr(processes, "decide", broken_decide)
    assert reply_take(body).status == "dead-letter"
    letter = DeadLetter.objects.get()
    assert letter.reason == "could not be applied: ValueError: a bug in a new release"
    assert letter.process_id == str(process.pk)
    assert json.loads(letter.body)["message_id"] == body["message_id"]  # enough to replay it by hand
    process.refresh_from_db()
    assert process.seq == 1


def test_commands_left_unpublished_when_a_process_ends_are_never_sent(sent_tasks: SentTasks) -> None:
    process = start()  # its charge was never published (say, the broker was down)
    from orchestrator.processes import operator_act

    operator_act(process_id=str(process.pk), action="cancel", user=an_operator())
    # The cancel waits for the in-flight charge; it times out and is undone, then the e-mail goes.
    timers_fire(now=timezone.now() + timedelta(seconds=11))
    answer(last_command(process, "payment"), refund_id=None, amount="0.00", currency="EUR")
    answer(last_command(process, "notify_cancelled"), notification_id="1", to="ada@example.com")
    process.refresh_from_db()
    assert process.status == "cancelled"
    # In this test no row was ever published (no commit hooks ran), the charge included.
    assert not Outbox.objects.filter(process=process, discarded_at__isnull=True).exists()
    assert outbox_relay(now=timezone.now() + timedelta(minutes=1)) == 0
    assert sent_tasks.calls == []


def test_snapshot_round_trips_through_json() -> None:
    process = start()
    assert state_to_json(state_from_json(process.state)) == process.state
