"""The hotel service: books the itinerary's hotel once, cancels only what it booked."""

from __future__ import annotations

import string

from pydantic import BaseModel, Field

from booking.services.records import code
from booking.services.reservations import reservation_service
from booking.trip import TripInput, stay_of
from orchestrator.commands import BusinessKey


class HotelOutput(BaseModel):
    confirmation: str = Field(min_length=3)
    hotel: str = ""


SERVICE = reservation_service(
    name="hotels",
    label="Hotel",
    description="Books the hotel of the itinerary.",
    what="hotel",
    input=TripInput,
    output=HotelOutput,
    key=BusinessKey("confirmation", "hotel confirmation"),
    detail_field="hotel",
    new_code=lambda: code("H", 7, string.digits),
    describe=lambda trip: stay_of(trip.get("itinerary", {})),
    book_summary="book {input[itinerary][hotel]}",
    cancel_summary="cancel the hotel booking {output[confirmation]}",
    book_description="Book the hotel of the itinerary.",
    cancel_description="Cancel the hotel booked for the trip.",
    done="booked, confirmation {confirmation}",
)
