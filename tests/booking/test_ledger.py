"""The ledger and the money check: built from every service's declaration, keyed by process."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from booking.bookings import booking_create
from booking.demo import trip_steps
from booking.ledger import ledger_details, ledger_lines, money_problems
from booking.models import Booking, Reservation
from orchestrator.definitions import definition_save
from orchestrator.engine.types import StepSpec
from orchestrator.models import Outbox
from tests.support.engine import SentTasks, deliver_all

pytestmark = pytest.mark.django_db

TRIP: dict[str, Any] = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "itinerary": {"origin": "CDG", "destination": "JFK", "depart_on": "2027-01-10", "hotel": "Grand Hotel"},
    "amount": Decimal("420.00"),
    "currency": "EUR",
}


def car_trip_steps() -> list[StepSpec]:
    """The sequential trip with a car rented after the hotel, before the e-mail."""
    payment, flight, hotel, notify, sorry = trip_steps(parallel=False)
    car = replace(flight, key="car", command="cars.book", compensation="cars.cancel", depends_on=("hotel",))
    return [payment, flight, hotel, car, replace(notify, depends_on=("car",)), sorry]


def car_trip() -> Booking:
    definition_save(name="car-trip", version=1, description="", steps=car_trip_steps(), activate=True)
    return booking_create(workflow="car-trip", **TRIP)


def test_a_completed_car_trip_adds_up_and_shows_the_car(sent_tasks: SentTasks) -> None:
    booking = car_trip()
    assert booking.process is not None
    process = deliver_all(booking.process, sent_tasks)
    assert process.status == "completed"
    assert money_problems([booking]) == []
    lines = {line.effect.step: line for line in ledger_lines(process)}
    assert lines["car"].effect.what.startswith("car booked: C")
    assert lines["car"].effect.what.endswith("Compact car at JFK")
    assert lines["car"].compensation == "kept"
    assert {r["service"] for r in ledger_details(booking)["reservations"]} == {"flights", "hotels", "cars"}


def test_a_car_left_booked_on_a_cancelled_trip_is_caught(sent_tasks: SentTasks) -> None:
    booking = car_trip()
    assert booking.process is not None
    # The confirmation e-mail bounces: a refusal on the success path compensates the whole trip.
    process = deliver_all(booking.process, sent_tasks, refuse=("notifications",))
    assert process.status == "compensated"
    assert money_problems([booking]) == []
    car = {line.effect.step: line for line in ledger_lines(process)}["car"]
    assert (car.effect.undo.startswith("cancelled (C"), car.compensation) == (True, "compensated")
    Reservation.objects.filter(service="cars", process_id=process.pk).update(status="booked")
    assert money_problems([booking]) == [f"{booking.reference}: compensated but what car did still stands"]


def test_a_completed_trip_whose_car_was_cancelled_is_caught(sent_tasks: SentTasks) -> None:
    booking = car_trip()
    assert booking.process is not None
    deliver_all(booking.process, sent_tasks)
    Reservation.objects.filter(service="cars", process_id=booking.process.pk).update(status="cancelled")
    assert money_problems([booking]) == [f"{booking.reference}: completed but what car did does not stand"]


def test_a_payment_kept_on_purpose_is_not_refunded_and_everyone_is_told(
    sent_tasks: SentTasks, client: Any
) -> None:
    from booking.checkout import status_token
    from tests.support.people import READ_PERMISSIONS, user_with

    payment, flight, hotel, notify, sorry = trip_steps(parallel=False)
    fee = replace(payment, compensation=None, keep_on_compensation=True)  # say, a booking fee
    definition_save(
        name="fee-trip", version=1, description="", steps=[fee, flight, hotel, notify, sorry], activate=True
    )
    booking = booking_create(workflow="fee-trip", **TRIP)
    assert booking.process is not None
    process = deliver_all(booking.process, sent_tasks, refuse=("hotels",))
    assert process.status == "compensated"
    assert money_problems([booking]) == []  # the fee stays charged, as the workflow says
    lines = {line.effect.step: line.compensation for line in ledger_lines(process)}
    assert lines["payment"] == "kept on purpose" and lines["flight"] == "compensated"
    customer = client.get(f"/book/status/{status_token(booking)}/").content.decode()
    assert "Not everything could be undone automatically" in customer
    assert "anything charged is refunded" not in customer
    page = user_with("vic", permissions=READ_PERMISSIONS).get(f"/processes/{process.pk}/").content.decode()
    assert "This workflow keeps what payment did when it compensates" in page
    assert "not undone on compensation" in page


def test_what_a_terminate_leaves_in_place_is_marked_so_and_is_no_money_problem(
    sent_tasks: SentTasks, trip_workflows: None
) -> None:
    from orchestrator.processes import operator_act
    from tests.support.engine import reply_take, service_run
    from tests.support.people import an_operator

    booking = booking_create(workflow="trip-booking", **TRIP)
    process = booking.process
    assert process is not None
    charge = Outbox.objects.get(process=process)  # the first command: the payment
    service_run(charge.task_name, charge.body)  # the real payment service charges
    (reply,) = [call["args"][0] for call in sent_tasks.calls if call["name"] == "orchestrator.event"]
    reply_take(reply)
    operator_act(
        process_id=str(process.pk), action="terminate", user=an_operator(), reason="settled by phone"
    )
    process.refresh_from_db()
    assert process.status == "terminated"
    (line,) = ledger_lines(process)
    assert (line.effect.step, line.effect.in_place, line.compensation) == (
        "payment",
        True,
        "left in place (terminated)",
    )
    assert money_problems([booking]) == []  # left on purpose, with a reason in the history
