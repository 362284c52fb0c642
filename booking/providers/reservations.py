"""The flight, hotel and car services: book once, cancel only what was booked.

They differ only in their records and in what they say; `ReservationService` is the one
service, and FLIGHTS, HOTELS and CARS describe each.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from booking.models import CarReservation, FlightReservation, HotelReservation, Reservation
from booking.providers.records import Effect, code, record_claim, step_of, trip_input
from booking.providers.runner import Result
from orchestrator.messages import CommandMessage


@dataclass(frozen=True)
class ReservationService:
    service: str  # its queue, e.g. "flights"
    model: type[Reservation]
    what: str  # "flight", in messages
    code_field: str  # the reference the customer quotes: pnr, confirmation
    detail_field: str  # what was booked, in words
    new_code: Callable[[], str]
    describe: Callable[[dict[str, Any]], str]  # from the trip's itinerary

    def book(self, command: CommandMessage, refuse: bool) -> Result:
        trip = trip_input(command)
        if isinstance(trip, Result):
            return trip
        booked = {self.code_field: self.new_code(), self.detail_field: self.describe(trip.itinerary)}
        with transaction.atomic():
            record = record_claim(
                self.model,
                command=command,
                fields=lambda: {
                    "booking_reference": trip.reference,
                    "status": Reservation.Status.SOLD_OUT if refuse else Reservation.Status.BOOKED,
                    **({} if refuse else booked),
                },
            )
        if record.status == Reservation.Status.SOLD_OUT:
            return Result(succeeded=False, error=f"{self.what} sold out", business=True)
        if record.status == Reservation.Status.VOIDED:
            return Result(
                succeeded=False, error=f"the {self.what} booking was voided before it was made", business=True
            )
        output = {name: getattr(record, name) for name in (self.code_field, self.detail_field)}
        return Result(succeeded=True, output=output)

    def cancel(self, command: CommandMessage, refuse: bool) -> Result:
        """Cancel what this key booked; voids the key when nothing was (a late booking is refused)."""
        with transaction.atomic():
            record = record_claim(
                self.model, command=command, fields=lambda: {"status": Reservation.Status.VOIDED}
            )
            if record.status == Reservation.Status.BOOKED:
                record.status = Reservation.Status.CANCELLED
                record.cancelled_at = timezone.now()
                record.save(update_fields=["status", "cancelled_at", "updated_at"])
        cancelled = record.status == Reservation.Status.CANCELLED
        reference = getattr(record, self.code_field) if cancelled else None
        return Result(succeeded=True, output={"cancelled": cancelled, "reference": reference})

    def effects(self, process_ids: Collection[str]) -> list[Effect]:
        """This service's ledger: each reservation, and whether it was cancelled."""
        found = []
        for record in self.model._default_manager.filter(process_id__in=process_ids).order_by("id"):
            code = getattr(record, self.code_field)
            booked = f"{self.what} booked: {code} {getattr(record, self.detail_field)}".strip()
            found.append(
                Effect(
                    service=self.service,
                    process_id=str(record.process_id),
                    step=step_of(record.key),
                    kind="reservation",
                    what={
                        Reservation.Status.BOOKED: booked,
                        Reservation.Status.CANCELLED: booked,
                        Reservation.Status.SOLD_OUT: f"{self.what} sold out: nothing booked",
                        Reservation.Status.VOIDED: "voided before any booking",
                    }[Reservation.Status(record.status)],
                    undo=f"cancelled ({code})" if record.status == Reservation.Status.CANCELLED else "",
                    in_place=record.status == Reservation.Status.BOOKED,
                    detail={
                        "service": self.service,
                        "reference": code,
                        "details": getattr(record, self.detail_field),
                        "status": record.status,
                    },
                )
            )
        return found


def _route(itinerary: dict[str, Any]) -> str:
    route = f"{itinerary.get('origin', '???')}→{itinerary.get('destination', '???')}"
    return f"{route} {itinerary.get('depart_on', '')}".strip()


FLIGHTS = ReservationService(
    service="flights",
    model=FlightReservation,
    what="flight",
    code_field="pnr",
    detail_field="flight",
    new_code=lambda: code("", 6),
    describe=_route,
)
HOTELS = ReservationService(
    service="hotels",
    model=HotelReservation,
    what="hotel",
    code_field="confirmation",
    detail_field="hotel",
    new_code=lambda: code("H", 7, "0123456789"),
    describe=lambda itinerary: itinerary.get("hotel") or f"Hotel in {itinerary.get('destination', 'town')}",
)
CARS = ReservationService(
    service="cars",
    model=CarReservation,
    what="car",
    code_field="confirmation",
    detail_field="car",
    new_code=lambda: code("C", 7, "0123456789"),
    describe=lambda itinerary: f"Compact car at {itinerary.get('destination', 'the destination')}",
)
