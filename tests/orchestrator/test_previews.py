"""Previews on cases an operator meets, checked against what the engine then does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.utils import timezone

from orchestrator.engine.preview import plan, sent_names
from orchestrator.models import Outbox, ProcessInstance
from orchestrator.previews import operator_event, preview
from orchestrator.processes import operator_act, process_start
from orchestrator.selectors import definition_of, state_of
from orchestrator.status import ProcessStatus, StepStatus
from tests.support.engine import answer, last_command, trip_input
from tests.support.people import an_operator

pytestmark = pytest.mark.django_db


def _trip(trip_workflows: None) -> ProcessInstance:
    process, _ = process_start(workflow="trip-booking", business_key=f"p-{uuid.uuid4()}", input=trip_input())
    return process


def _sent_after(process: ProcessInstance, last_id: int) -> list[tuple[str, str]]:
    rows = Outbox.objects.filter(process=process, id__gt=last_id).order_by("id")
    return [(row.task_name, row.message_id.split(":")[1]) for row in rows]


def _last_id(process: ProcessInstance) -> int:
    return Outbox.objects.filter(process=process).order_by("-id").values_list("id", flat=True)[0]


def _answer_all(process: ProcessInstance, **outputs: dict[str, Any]) -> None:
    """Answer what the process waits for with successes until it sends nothing more."""
    for _ in range(20):
        state = state_of(process)
        out = [
            key
            for key, st in state.steps.items()
            if st.status in (StepStatus.RUNNING, StepStatus.COMPENSATING)
        ]
        if not out:
            return
        for key in out:
            answer(last_command(process, key), **outputs.get(key, {}))
        process.refresh_from_db()


def test_cancelling_while_the_hotel_retries_undoes_the_hotel_first_as_previewed(trip_workflows: None) -> None:
    process = _trip(trip_workflows)
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    answer(last_command(process, "flight"), pnr="XY12ZQ")
    answer(last_command(process, "hotel"), succeeded=False)  # technical: waits to retry
    process.refresh_from_db()
    assert state_of(process).steps["hotel"].status == StepStatus.RETRYING

    said = preview(definition_of(process), state_of(process), "cancel", at=timezone.now())
    assert sent_names(said.commands) == [
        ("hotels.cancel", "hotel"),  # the failed attempt may have booked: undone first, newest
        ("flights.cancel", "flight"),
        ("payments.refund", "payment"),
        ("notifications.send", "notify_cancelled"),
    ]
    assert said.lines[0].startswith("Undo hotel: ")
    assert said.ends == ProcessStatus.CANCELLED

    last = _last_id(process)
    operator_act(process_id=str(process.pk), action="cancel", user=an_operator(), reason="customer called")
    process.refresh_from_db()
    _answer_all(process)
    process.refresh_from_db()
    assert _sent_after(process, last) == sent_names(said.commands)
    assert process.status == ProcessStatus.CANCELLED


def test_cancelling_a_paused_process_says_it_waits_for_a_resume(trip_workflows: None) -> None:
    process = _trip(trip_workflows)
    operator = an_operator()
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    operator_act(process_id=str(process.pk), action="pause", user=operator, reason="look")
    process.refresh_from_db()

    said = preview(definition_of(process), state_of(process), "cancel", at=timezone.now())
    assert said.ends is None
    assert any("paused: nothing more is sent until someone resumes it" in line for line in said.lines)
    # The flight in flight is waited for; nothing is sent while paused.
    assert [c.name for c in said.commands] == []
    operator_act(process_id=str(process.pk), action="cancel", user=operator, reason="customer called")
    process.refresh_from_db()
    assert process.status == ProcessStatus.PAUSED


def test_a_refused_action_previews_the_engine_refusal(trip_workflows: None) -> None:
    process = _trip(trip_workflows)
    said = preview(definition_of(process), state_of(process), "resume", at=timezone.now())
    assert said.refusal == "the process is not paused"
    assert said.commands == ()


def test_the_plan_is_pure_and_leaves_the_state_alone(trip_workflows: None) -> None:
    process = _trip(trip_workflows)
    definition, state = definition_of(process), state_of(process)
    before = state_of(process)
    event = operator_event(definition, state, "cancel", None, actor="t", at=timezone.now())
    first = plan(definition, state, event)
    assert state == before  # decide works on copies
    assert sent_names(plan(definition, state, event).commands) == sent_names(first.commands)
    assert first.complete


def test_the_terminate_preview_names_what_stays_in_place_and_the_engine_does_just_that(
    trip_workflows: None,
) -> None:
    process = _trip(trip_workflows)
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    answer(last_command(process, "flight"), pnr="XY12ZQ")
    process.refresh_from_db()

    said = preview(definition_of(process), state_of(process), "terminate", at=timezone.now())
    assert said.refusal == ""
    assert said.commands == ()
    assert said.ends == ProcessStatus.TERMINATED
    left = [line for line in said.lines if line.startswith(("payment:", "flight:", "hotel:"))]
    assert left[:2] == [
        "payment: charge 420.00 EUR to Ada Lovelace (done); not sent: refund 420.00 EUR (payment pay_1)",
        "flight: book the flight CDG→JFK (done); not sent: cancel flight PNR XY12ZQ",
    ]
    assert left[2].startswith("hotel: book Grand Hotel (may still act); not sent: ")
    assert len(left) == 3  # nothing was asked of the notification step
    assert said.lines[-1] == "The process ends terminated."

    last = _last_id(process)
    operator_act(process_id=str(process.pk), action="terminate", user=an_operator(), reason="test booking")
    answer(last_command(process, "hotel"), confirmation="H-1")  # a late answer changes nothing
    process.refresh_from_db()
    assert process.status == ProcessStatus.TERMINATED
    assert _sent_after(process, last) == []
