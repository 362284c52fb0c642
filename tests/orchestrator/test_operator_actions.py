"""Operator actions go through the engine as events carrying who and why."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from orchestrator.engine.decide import ActionNotAllowed
from orchestrator.models import HistoryEntry, Outbox, ProcessInstance
from orchestrator.processes import ProcessNotFound, operator_act, process_start
from tests.support.engine import answer, last_command
from tests.support.people import an_operator

pytestmark = pytest.mark.usefixtures("trip_workflows")

TRIP = {
    "reference": "TRP-OPS001",
    "customer_name": "Ada",
    "customer_email": "ada@example.com",
    "amount": "420.00",
    "currency": "EUR",
    "itinerary": {},
}


def started() -> ProcessInstance:
    return process_start(workflow="trip-booking", business_key="TRP-OPS001", input=TRIP)[0]


def test_pause_and_resume_are_recorded_with_actor_and_reason() -> None:
    process = started()
    operator_act(
        process_id=str(process.pk),
        action="pause",
        user=an_operator("ops@example.com"),
        reason="card issuer outage",
    )
    process.refresh_from_db()
    assert process.status == "paused"
    row = HistoryEntry.objects.filter(process=process).order_by("-seq").first()
    assert row is not None
    assert (row.type, row.actor, row.reason) == ("operator.paused", "ops@example.com", "card issuer outage")
    operator_act(process_id=str(process.pk), action="resume", user=an_operator("ops@example.com"))
    process.refresh_from_db()
    assert process.status == "running"


def test_an_action_that_does_not_apply_is_refused_and_not_recorded() -> None:
    process = started()
    with pytest.raises(ActionNotAllowed, match="not paused"):
        operator_act(process_id=str(process.pk), action="resume", user=an_operator())
    with pytest.raises(ActionNotAllowed, match="nothing to retry"):
        operator_act(process_id=str(process.pk), action="retry", step="payment", user=an_operator())
    with pytest.raises(ActionNotAllowed, match="unknown action"):
        operator_act(process_id=str(process.pk), action="explode", user=an_operator())
    assert HistoryEntry.objects.filter(process=process).count() == 1


def test_unknown_process_is_reported() -> None:
    with pytest.raises(ProcessNotFound):
        operator_act(process_id="6f1c1c1e-0000-0000-0000-000000000000", action="pause", user=an_operator())


def test_cancel_compensates_what_was_done_and_ends_cancelled() -> None:
    process = started()
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    operator_act(process_id=str(process.pk), action="cancel", user=an_operator(), reason="customer called")
    process.refresh_from_db()
    assert process.status == "compensating"
    # The flight was in flight: wait for it, then undo it, then the payment.
    answer(last_command(process, "flight"), pnr="XY12ZQ")
    cancel = last_command(process, "flight")
    assert (cancel.command, cancel.kind) == ("flights.cancel", "compensation")
    answer(cancel, cancelled=True)
    answer(last_command(process, "payment"), refund_id="re_1", amount="420.00", currency="EUR")
    answer(last_command(process, "notify_cancelled"), notification_id="1", to="ada@example.com")
    process.refresh_from_db()
    assert process.status == "cancelled"


def test_skip_checks_the_output_against_the_declared_shape() -> None:
    process = started()
    answer(last_command(process, "payment"), succeeded=False)  # technical failure: waiting to retry
    with pytest.raises(
        ValueError, match=r"output does not match payments\.charge: payment_id: Field required"
    ):
        operator_act(process_id=str(process.pk), action="skip", step="payment", user=an_operator(), output={})
    operator_act(
        process_id=str(process.pk),
        action="skip",
        step="payment",
        user=an_operator(),
        reason="charged by phone",
        output={"payment_id": "pay_phone", "amount": "420.00", "currency": "EUR"},
    )
    # The payment service was asked once: whatever it did under the key is voided first.
    void = last_command(process, "payment")
    assert (void.command, void.kind) == ("payments.refund", "compensation")
    answer(void, refund_id=None, amount="0.00", currency="EUR")
    process.refresh_from_db()
    assert process.context["payment"]["payment_id"] == "pay_phone"
    assert process.state["steps"]["payment"]["status"] == "skipped"
    assert last_command(process).command == "flights.book"


def test_a_retry_without_a_step_retries_the_one_that_waits() -> None:
    process = started()
    answer(last_command(process, "payment"), succeeded=False)  # waits to retry (backoff)
    operator_act(process_id=str(process.pk), action="retry", user=an_operator(), reason="now")
    assert last_command(process, "payment").attempt == 2
    with pytest.raises(ActionNotAllowed, match="no step waits to be retried"):
        operator_act(process_id=str(process.pk), action="retry", user=an_operator(), reason="again")


def test_the_engine_itself_refuses_a_user_without_the_actions_permission() -> None:
    process = started()
    pauser = an_operator("paul", permissions=["pause_process"])
    with pytest.raises(PermissionDenied, match=r"orchestrator\.cancel_process"):
        operator_act(process_id=str(process.pk), action="cancel", user=pauser, reason="not mine to do")
    operator_act(process_id=str(process.pk), action="pause", user=pauser, reason="mine")
    assert list(HistoryEntry.objects.filter(process=process).values_list("type", "actor")) == [
        ("process.started", ""),
        ("operator.paused", "paul"),
    ]


def test_terminate_ends_at_once_undoes_nothing_and_sends_nothing_more() -> None:
    process = started()
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    sent = Outbox.objects.filter(process=process).count()  # the charge, and the flight under way
    with pytest.raises(PermissionDenied, match=r"orchestrator\.terminate_process"):
        canceller = an_operator("c", permissions=["cancel_process"])
        operator_act(process_id=str(process.pk), action="terminate", user=canceller)
    operator_act(process_id=str(process.pk), action="terminate", user=an_operator(), reason="a test booking")
    process.refresh_from_db()
    assert (process.status, process.ended_at is not None, process.wake_at) == ("terminated", True, None)
    row = HistoryEntry.objects.filter(process=process).order_by("-seq").first()
    assert row is not None
    assert (row.type, row.actor, row.reason) == ("operator.terminated", "ops", "a test booking")
    # The flight answers late: recorded, nothing undone, nothing sent.
    answer(last_command(process, "flight"), pnr="XY12ZQ")
    process.refresh_from_db()
    assert process.status == "terminated"
    assert Outbox.objects.filter(process=process).count() == sent
    with pytest.raises(ActionNotAllowed, match="terminated"):
        operator_act(process_id=str(process.pk), action="cancel", user=an_operator(), reason="too late")
