"""The flight service: books the itinerary's flight once, cancels only what it booked."""

from __future__ import annotations

from pydantic import BaseModel, Field

from booking.services.records import code
from booking.services.reservations import reservation_service
from booking.trip import TripInput, route_of
from orchestrator.commands import BusinessKey


class FlightOutput(BaseModel):
    pnr: str = Field(min_length=5, max_length=8)
    flight: str = ""


SERVICE = reservation_service(
    name="flights",
    label="Flight",
    description="Books the flight of the itinerary.",
    what="flight",
    input=TripInput,
    output=FlightOutput,
    key=BusinessKey("pnr", "PNR"),
    detail_field="flight",
    new_code=lambda: code("", 6),
    describe=lambda trip: route_of(trip.get("itinerary", {})),
    book_summary="book the flight {input[itinerary][origin]}→{input[itinerary][destination]}",
    cancel_summary="cancel flight PNR {output[pnr]}",
    book_description="Book the flight of the itinerary.",
    cancel_description="Cancel the flight booked for the trip.",
    done="booked, PNR {pnr}",
)
