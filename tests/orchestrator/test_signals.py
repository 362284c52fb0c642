"""Signals from outside through the engine's one door (`signal_take`), on a real database: a trip
whose payment waits for the bank's confirmation."""

from __future__ import annotations

import json
import uuid

import pytest

from booking.demo import trip_steps
from orchestrator.definitions import InvalidDefinition, definition_compile, definition_save
from orchestrator.engine.types import SignalSpec
from orchestrator.models import HistoryEntry, ProcessInstance
from orchestrator.processes import (
    ProcessNotFound,
    SignalInvalid,
    SignalRefused,
    operator_act,
    process_start,
    signal_take,
)
from tests.support.engine import answer, last_command, trip_input
from tests.support.people import an_operator
from tests.support.waits import BANK, CONFIRMED, DECLINED, bank_trip_save

pytestmark = pytest.mark.django_db


def paid() -> ProcessInstance:
    bank_trip_save()
    process, _ = process_start(workflow="bank-trip", business_key=f"b-{uuid.uuid4()}", input=trip_input())
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    process.refresh_from_db()
    assert process.state["steps"]["bank"]["status"] == "running"
    return process


def test_waits_and_signals_are_stored_with_the_definition() -> None:
    bank_trip_save()
    from orchestrator.models import WorkflowDefinition

    compiled = definition_compile(WorkflowDefinition.objects.get(name="bank-trip"))
    assert compiled.step("bank").wait == BANK.wait
    assert compiled.step("bank").command == ""
    assert compiled.signals == (CONFIRMED, DECLINED)


def test_a_signal_ends_the_wait_once_per_key_and_the_trip_goes_on() -> None:
    process = paid()
    taken = signal_take(
        process_id=str(process.pk),
        name="payment_confirmed",
        data={"authorisation": "A-1"},
        key="k1",
        actor="bank",
    )
    assert (taken.repeated, taken.note) == (False, "signal payment_confirmed: bank done")
    assert last_command(process, "flight").command == "flights.book"
    row = HistoryEntry.objects.get(process=process, seq=taken.seq)
    assert (row.type, row.actor, row.payload) == (
        "signal.received",
        "bank",
        {"name": "payment_confirmed", "data": {"authorisation": "A-1"}, "key": "k1"},
    )
    again = signal_take(
        process_id=str(process.pk), name="payment_confirmed", data={"authorisation": "A-1"}, key="k1"
    )
    assert (again.repeated, again.seq, again.note) == (True, taken.seq, taken.note)
    assert HistoryEntry.objects.filter(process=process, type="signal.received").count() == 1
    with pytest.raises(SignalRefused, match="this key was used for another signal"):
        signal_take(
            process_id=str(process.pk), name="payment_confirmed", data={"authorisation": "X"}, key="k1"
        )
    with pytest.raises(SignalRefused, match="nothing waits for signal payment_confirmed now"):
        signal_take(
            process_id=str(process.pk), name="payment_confirmed", data={"authorisation": "A"}, key="k2"
        )


def test_what_is_refused_is_not_recorded() -> None:
    process = paid()
    before = HistoryEntry.objects.filter(process=process).count()
    with pytest.raises(SignalInvalid, match=r"^data: 'authorisation' is a required property$"):
        signal_take(process_id=str(process.pk), name="payment_confirmed", data={}, key="a")
    with pytest.raises(SignalInvalid, match=r"^data\.authorisation: 7 is not of type 'string'$"):
        signal_take(process_id=str(process.pk), name="payment_confirmed", data={"authorisation": 7}, key="b")
    with pytest.raises(SignalRefused, match="declares no signal 'refund_please'"):
        signal_take(process_id=str(process.pk), name="refund_please", data={}, key="c")
    with pytest.raises(ProcessNotFound):
        signal_take(process_id=str(uuid.uuid4()), name="payment_confirmed", data={}, key="d")
    with pytest.raises(ProcessNotFound):
        signal_take(process_id="not-a-uuid", name="payment_confirmed", data={}, key="e")
    assert HistoryEntry.objects.filter(process=process).count() == before


def test_a_decline_compensates_and_an_ended_process_takes_no_signal() -> None:
    process = paid()
    signal_take(process_id=str(process.pk), name="payment_declined", data={}, key="no")
    refund = last_command(process, "payment")
    assert (refund.command, refund.kind) == ("payments.refund", "compensation")
    operator_act(process_id=str(process.pk), action="terminate", user=an_operator(), reason="test")
    with pytest.raises(SignalRefused, match="terminated; it takes no more signals"):
        signal_take(
            process_id=str(process.pk), name="payment_confirmed", data={"authorisation": "A"}, key="x"
        )


def test_an_early_decline_is_refused_as_its_workflow_says_and_an_early_confirmation_kept() -> None:
    bank_trip_save()
    process, _ = process_start(workflow="bank-trip", business_key="early", input=trip_input())
    with pytest.raises(SignalRefused, match="nothing waits for signal payment_declined now"):
        signal_take(process_id=str(process.pk), name="payment_declined", data={}, key="early-no")
    taken = signal_take(
        process_id=str(process.pk), name="payment_confirmed", data={"authorisation": "A-0"}, key="early-yes"
    )
    assert taken.note == "signal payment_confirmed kept until bank waits for it"
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    assert last_command(process, "flight").command == "flights.book"  # the kept signal was taken


def test_a_schema_that_is_not_one_is_refused_with_the_definition() -> None:
    payment, *_ = trip_steps(parallel=False)
    with pytest.raises(InvalidDefinition, match="payment_confirmed: its schema is not a JSON Schema"):
        definition_save(
            name="bad-schema",
            version=1,
            description="",
            steps=[payment, BANK],
            signals=(SignalSpec("payment_confirmed", schema={"type": "nonsense"}), DECLINED),
        )


def test_waits_and_signals_round_trip_through_a_workflow_file() -> None:
    from orchestrator.models import WorkflowDefinition
    from orchestrator.workflow_io import ImportRefused, workflows_export, workflows_import

    bank_trip_save()
    exported = workflows_export(list(WorkflowDefinition.objects.filter(name="bank-trip")))
    document = json.loads(exported)
    (bank,) = [step for step in document["workflows"][0]["steps"] if step["key"] == "bank"]
    assert bank["wait"]["signals"] == ["payment_confirmed"]
    assert [s["name"] for s in document["workflows"][0]["signals"]] == [
        "payment_confirmed",
        "payment_declined",
    ]
    WorkflowDefinition.objects.filter(name="bank-trip").delete()
    assert workflows_import(exported) == ["bank-trip v1: created, activated"]
    assert workflows_export(list(WorkflowDefinition.objects.filter(name="bank-trip"))) == exported

    bank["wait"] = {"kind": "nap"}
    document["workflows"][0]["signals"][0]["schema"] = {"type": 3}
    with pytest.raises(ImportRefused) as refused:
        workflows_import(json.dumps(document))
    assert any("step 'bank', wait: not a wait" in problem for problem in refused.value.problems)
    bank["wait"] = {"kind": "sleep", "seconds": 60}
    with pytest.raises(ImportRefused, match="payment_confirmed: its schema is not a JSON Schema"):
        workflows_import(json.dumps(document))


def test_the_process_page_says_what_a_wait_step_waits_for() -> None:
    from tests.support.people import READ_PERMISSIONS, user_with

    process = paid()
    page = user_with("viewer", permissions=READ_PERMISSIONS).get(f"/processes/{process.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "waits up to 600 s for payment_confirmed (fails on payment_declined)" in text
