"""The flight and hotel services: book once, cancel only what was booked."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from booking.models import CarReservation, FlightReservation, HotelReservation, Reservation
from booking.services.records import code, record_claim, trip_input
from booking.services.runner import Result
from orchestrator.messages import CommandMessage


def _book(
    model: type[Reservation], command: CommandMessage, refuse: bool, what: str, details: dict[str, Any]
) -> Reservation | Result:
    trip = trip_input(command)
    if isinstance(trip, Result):
        return trip
    with transaction.atomic():
        record, _ = record_claim(
            model,
            command=command,
            fields=lambda: {
                "booking_reference": trip.reference,
                "status": Reservation.Status.SOLD_OUT if refuse else Reservation.Status.BOOKED,
                **({} if refuse else details),
            },
        )
    if record.status == Reservation.Status.SOLD_OUT:
        return Result(succeeded=False, error=f"{what} sold out", business=True)
    if record.status == Reservation.Status.VOIDED:
        return Result(
            succeeded=False, error=f"the {what} booking was voided before it was made", business=True
        )
    return record


def _cancel(model: type[Reservation], command: CommandMessage) -> Reservation | None:
    """Cancel the reservation of this key; None when there was nothing booked to cancel."""
    with transaction.atomic():
        record, _ = record_claim(model, command=command, fields=lambda: {"status": Reservation.Status.VOIDED})
        if record.status == Reservation.Status.BOOKED:
            record.status = Reservation.Status.CANCELLED
            record.cancelled_at = timezone.now()
            record.save(update_fields=["status", "cancelled_at", "updated_at"])
        return record if record.status == Reservation.Status.CANCELLED else None


def book_flight(command: CommandMessage, refuse: bool) -> Result:
    itinerary = command.payload.get("input", {}).get("itinerary", {})
    route = f"{itinerary.get('origin', '???')}→{itinerary.get('destination', '???')}"
    flight = f"{route} {itinerary.get('depart_on', '')}"
    record = _book(
        FlightReservation, command, refuse, "flight", {"pnr": code("", 6), "flight": flight.strip()}
    )
    if isinstance(record, Result):
        return record
    assert isinstance(record, FlightReservation)
    return Result(succeeded=True, output={"pnr": record.pnr, "flight": record.flight})


def cancel_flight(command: CommandMessage, refuse: bool) -> Result:
    record = _cancel(FlightReservation, command)
    reference = record.pnr if isinstance(record, FlightReservation) else None
    return Result(succeeded=True, output={"cancelled": record is not None, "reference": reference})


def book_hotel(command: CommandMessage, refuse: bool) -> Result:
    itinerary = command.payload.get("input", {}).get("itinerary", {})
    hotel = itinerary.get("hotel") or f"Hotel in {itinerary.get('destination', 'town')}"
    record = _book(
        HotelReservation,
        command,
        refuse,
        "hotel",
        {"confirmation": code("H", 7, "0123456789"), "hotel": hotel},
    )
    if isinstance(record, Result):
        return record
    assert isinstance(record, HotelReservation)
    return Result(succeeded=True, output={"confirmation": record.confirmation, "hotel": record.hotel})


def cancel_hotel(command: CommandMessage, refuse: bool) -> Result:
    record = _cancel(HotelReservation, command)
    reference = record.confirmation if isinstance(record, HotelReservation) else None
    return Result(succeeded=True, output={"cancelled": record is not None, "reference": reference})


def book_car(command: CommandMessage, refuse: bool) -> Result:
    itinerary = command.payload.get("input", {}).get("itinerary", {})
    car = f"Compact car at {itinerary.get('destination', 'the destination')}"
    record = _book(
        CarReservation, command, refuse, "car", {"confirmation": code("C", 7, "0123456789"), "car": car}
    )
    if isinstance(record, Result):
        return record
    assert isinstance(record, CarReservation)
    return Result(succeeded=True, output={"confirmation": record.confirmation, "car": record.car})


def cancel_car(command: CommandMessage, refuse: bool) -> Result:
    record = _cancel(CarReservation, command)
    reference = record.confirmation if isinstance(record, CarReservation) else None
    return Result(succeeded=True, output={"cancelled": record is not None, "reference": reference})
