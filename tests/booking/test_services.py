"""The four services: one effect per idempotency key, undo only what was done, injected faults."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from booking.faults import fault_draw, faults_set
from booking.models import Charge, Notification, Refund, Reservation
from orchestrator.messages import reply_parse
from orchestrator.models import DeadLetter
from tests.support.engine import SentTasks, service_command, service_run

pytestmark = pytest.mark.django_db

TRIP = {
    "reference": "TRP-SVC001",
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "amount": "420.00",
    "currency": "EUR",
    "itinerary": {"origin": "CDG", "destination": "JFK", "depart_on": "2027-01-10", "hotel": "Grand Hotel"},
}
PROCESS = uuid.uuid4()


@pytest.fixture(autouse=True)
def the_process(trip_workflows: None) -> None:
    """The process the commands belong to: services refuse commands of unknown or ended ones."""
    from orchestrator.models import ProcessInstance, WorkflowDefinition

    ProcessInstance.objects.create(
        pk=PROCESS,
        definition=WorkflowDefinition.objects.get(name="trip-booking"),
        workflow_name="trip-booking",
        business_key="TRP-SVC001",
        state={"steps": {}},
    )


def command(
    name: str, step: str, *, kind: str = "action", attempt: int = 1, **payload: Any
) -> dict[str, Any]:
    return service_command(PROCESS, name, step, kind=kind, attempt=attempt, input=TRIP, **payload)


def replies(sent: SentTasks) -> list[dict[str, Any]]:
    return [
        reply_parse(call["args"][0]).model_dump(mode="json")
        for call in sent.calls
        if call["name"] == "orchestrator.event"
    ]


def test_a_charge_delivered_three_times_charges_once(sent_tasks: SentTasks) -> None:
    body = command("payments.charge", "payment")
    for _ in range(3):
        service_run("payments.charge", body)
    charge = Charge.objects.get()
    assert (charge.status, charge.amount, charge.currency) == ("charged", Decimal("420.00"), "EUR")
    outputs = [r["payload"]["output"] for r in replies(sent_tasks)]
    assert len(outputs) == 3 and all(o == outputs[0] for o in outputs)
    assert outputs[0]["payment_id"] == charge.payment_id
    assert {r["type"] for r in replies(sent_tasks)} == {"step.succeeded"}
    assert len({r["message_id"] for r in replies(sent_tasks)}) == 3  # each execution is a new answer


def test_a_refund_refunds_exactly_what_was_charged_once(sent_tasks: SentTasks) -> None:
    service_run("payments.charge", command("payments.charge", "payment"))
    for attempt in (1, 2):
        service_run(
            "payments.refund", command("payments.refund", "payment", kind="compensation", attempt=attempt)
        )
    refund = Refund.objects.get()
    assert refund.amount == Decimal("420.00")
    assert replies(sent_tasks)[-1]["type"] == "compensation.succeeded"
    assert replies(sent_tasks)[-1]["payload"]["output"]["refund_id"] == refund.refund_id


def test_a_refund_before_the_charge_voids_the_key_and_the_late_charge_is_refused(
    sent_tasks: SentTasks,
) -> None:
    service_run("payments.refund", command("payments.refund", "payment", kind="compensation"))
    assert replies(sent_tasks)[-1]["payload"]["output"] == {
        "refund_id": None,
        "amount": "0.00",
        "currency": "EUR",
    }
    service_run("payments.charge", command("payments.charge", "payment"))  # a copy delayed in the queue
    late = replies(sent_tasks)[-1]
    assert late["type"] == "step.failed" and late["payload"]["business"] is True
    assert Charge.objects.get().status == "voided"
    assert not Refund.objects.exists()


def test_a_declined_card_is_final_for_the_key(sent_tasks: SentTasks) -> None:
    faults_set("payments", business_rate=1.0)
    service_run("payments.charge", command("payments.charge", "payment"))
    faults_set("payments", business_rate=0.0)
    service_run("payments.charge", command("payments.charge", "payment", attempt=2))
    assert [r["payload"].get("error") for r in replies(sent_tasks)] == ["card declined", "card declined"]
    assert Charge.objects.get().status == "declined"
    service_run("payments.refund", command("payments.refund", "payment", kind="compensation"))
    assert not Refund.objects.exists()  # nothing was taken, nothing is given back


@pytest.mark.parametrize(("service", "reference_field"), [("flights", "pnr"), ("hotels", "confirmation")])
def test_book_once_cancel_only_what_was_booked(
    sent_tasks: SentTasks, service: str, reference_field: str
) -> None:
    service_run(f"{service}.book", command(f"{service}.book", "trip"))
    service_run(f"{service}.book", command(f"{service}.book", "trip", attempt=2))
    record = Reservation.objects.get()
    assert (record.service, record.status) == (service, "booked")
    booked = [r["payload"]["output"] for r in replies(sent_tasks)]
    assert booked[0] == booked[1] and booked[0][reference_field] == record.code  # one booking, one code
    service_run(f"{service}.cancel", command(f"{service}.cancel", "trip", kind="compensation"))
    service_run(f"{service}.cancel", command(f"{service}.cancel", "trip", kind="compensation", attempt=2))
    record.refresh_from_db()
    assert record.status == "cancelled" and record.cancelled_at is not None
    out = replies(sent_tasks)[-1]["payload"]["output"]
    assert out == {"cancelled": True, "reference": record.code}


def test_cancelling_what_was_never_booked_voids_it(sent_tasks: SentTasks) -> None:
    service_run("flights.cancel", command("flights.cancel", "flight", kind="compensation"))
    assert replies(sent_tasks)[-1]["payload"]["output"] == {"cancelled": False, "reference": None}
    service_run("flights.book", command("flights.book", "flight"))
    assert replies(sent_tasks)[-1]["payload"]["business"] is True
    assert Reservation.objects.get(service="flights").status == "voided"


def test_notifications_use_the_step_template_and_are_sent_once(sent_tasks: SentTasks) -> None:
    context = {"flight": {"pnr": "XY12ZQ"}, "hotel": {"confirmation": "H1234567"}}
    body = command("notifications.send", "notify", params={"template": "confirmed"}, context=context)
    service_run("notifications.send", body)
    service_run("notifications.send", body)
    note = Notification.objects.get()
    assert note.to == "ada@example.com"
    assert "Flight: XY12ZQ" in note.body and "Hotel: H1234567" in note.body
    assert "TRP-SVC001" in note.subject


def test_technical_faults_do_nothing_and_say_so(sent_tasks: SentTasks) -> None:
    faults_set("hotels", technical_rate=1.0)
    service_run("hotels.book", command("hotels.book", "hotel"))
    reply = replies(sent_tasks)[-1]
    assert reply["type"] == "step.failed" and reply["payload"]["business"] is False
    assert "injected" in reply["payload"]["error"]
    assert not Reservation.objects.filter(service="hotels").exists()


def test_an_outage_takes_the_command_and_never_answers(sent_tasks: SentTasks) -> None:
    faults_set("flights", outage=True)
    service_run("flights.book", command("flights.book", "flight"))
    assert replies(sent_tasks) == []
    assert not Reservation.objects.filter(service="flights").exists()


def test_seeded_faults_are_repeatable() -> None:
    faults = faults_set("payments", technical_rate=0.5, business_rate=0.5, seed=42)
    draws = [fault_draw(faults, key=f"k{i}", kind="action", attempt=1) for i in range(50)]
    again = [fault_draw(faults, key=f"k{i}", kind="action", attempt=1) for i in range(50)]
    assert draws == again
    assert 10 < sum(d.technical for d in draws) < 40  # the rate is honoured, roughly
    assert not any(
        fault_draw(faults, key=f"k{i}", kind="compensation", attempt=1).business for i in range(50)
    )


def test_bad_fault_settings_are_refused() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        faults_set("payments", technical_rate=1.5)
    with pytest.raises(ValueError, match="unknown service 'trains'"):
        faults_set("trains", technical_rate=0.1)


def test_a_malformed_command_becomes_a_dead_letter(sent_tasks: SentTasks) -> None:
    service_run("payments.charge", {"command": "payments.charge"})
    letter = DeadLetter.objects.get()
    assert letter.task_name == "payments.charge"
    assert letter.reason.startswith("malformed command")
    assert replies(sent_tasks) == []


def test_a_command_with_an_impossible_trip_is_refused_not_retried(sent_tasks: SentTasks) -> None:
    body = command("payments.charge", "payment")
    body["payload"]["input"] = {"reference": "TRP-X"}
    service_run("payments.charge", body)
    reply = replies(sent_tasks)[-1]
    assert reply["payload"]["business"] is True and "invalid trip input" in reply["payload"]["error"]
