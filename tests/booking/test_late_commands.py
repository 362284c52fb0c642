"""A command that comes back late never acts: not after its step was undone or settled by hand,
not after its process ended (a redelivery after a killed worker can come an hour later)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from booking.bookings import booking_create
from booking.models import Charge
from orchestrator.messages import reply_parse
from orchestrator.models import DeadLetter, HistoryEntry
from orchestrator.processes import operator_act, timers_fire
from tests.support.engine import SentTasks, answer, last_command, reply_take, service_command, service_run
from tests.support.people import an_operator

pytestmark = pytest.mark.usefixtures("trip_workflows")

TRIP: dict[str, Any] = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "itinerary": {"origin": "CDG", "destination": "JFK", "depart_on": "2027-01-10", "hotel": "Grand Hotel"},
    "amount": "420.00",
    "currency": "EUR",
}


def last_reply(sent: SentTasks) -> dict[str, Any]:
    call = [c for c in sent.calls if c["name"] == "orchestrator.event"][-1]
    return reply_parse(call["args"][0]).model_dump(mode="json")


def test_a_charge_held_by_a_dead_worker_never_charges_after_the_undo_was_done_by_hand(
    sent_tasks: SentTasks,
) -> None:
    from decimal import Decimal

    booking = booking_create(**{**TRIP, "amount": Decimal("420.00")})
    process = booking.process
    assert process is not None
    held = last_command(process, "payment").model_dump(mode="json")  # a worker took it, then died
    ops = an_operator()
    operator_act(process_id=str(process.pk), action="cancel", user=ops, reason="customer called")
    timers_fire(now=timezone.now() + timedelta(seconds=11))  # the charge times out: undo it
    refund = last_command(process, "payment")
    assert refund.command == "payments.refund"
    answer(refund, succeeded=False)  # the payment provider is down
    operator_act(
        process_id=str(process.pk), action="skip", step="payment", user=ops, reason="nothing was charged"
    )
    # The held charge comes back while the process still runs (its e-mail is being sent).
    service_run("payments.charge", held)
    reply = last_reply(sent_tasks)
    assert (reply["type"], reply["payload"]["business"]) == ("step.failed", True)
    assert reply["payload"]["error"] == "refused: step payment is compensated"
    assert not Charge.objects.exists()
    reply_take(sent_tasks.calls[-1]["args"][0])  # the engine records the refusal, nothing more
    answer(last_command(process, "notify_cancelled"), notification_id="1", to="ada@example.com")
    process.refresh_from_db()
    assert process.status == "cancelled"

    # And once more, after the end.
    service_run("payments.charge", held)
    assert last_reply(sent_tasks)["payload"]["error"] == "refused: the process has ended (cancelled)"
    assert not Charge.objects.exists()
    assert HistoryEntry.objects.filter(process=process, type="step.failed").count() == 1


def test_a_command_for_an_unknown_process_is_kept_as_a_dead_letter(sent_tasks: SentTasks) -> None:
    import uuid

    body = service_command(uuid.uuid4(), "payments.charge", "payment")
    service_run("payments.charge", body)
    assert DeadLetter.objects.get().reason == "command for an unknown process"
    assert not Charge.objects.exists() and sent_tasks.calls == []


def test_an_attempt_that_timed_out_in_a_backlog_is_left_to_the_next_one(sent_tasks: SentTasks) -> None:
    """Under a backlog an attempt can time out while it waits in the service's queue; the engine
    sends the next. The first, reached later, does nothing: the next does the work, once."""
    from decimal import Decimal

    booking = booking_create(**{**TRIP, "amount": Decimal("420.00")})
    process = booking.process
    assert process is not None
    first = last_command(process, "payment").model_dump(mode="json")  # still waiting in the queue
    timers_fire(now=timezone.now() + timedelta(seconds=11))  # it times out
    timers_fire(now=timezone.now() + timedelta(seconds=30))  # the retry is due: attempt 2 goes out
    second = last_command(process, "payment")
    assert second.attempt == 2
    sent_tasks.calls.clear()
    service_run("payments.charge", first)
    assert sent_tasks.calls == []  # no reply: nothing was done for it
    assert not Charge.objects.exists()
    service_run("payments.charge", second.model_dump(mode="json"))
    assert Charge.objects.filter(status="charged").count() == 1
    assert last_reply(sent_tasks)["attempt"] == 2
