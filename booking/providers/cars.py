"""The car rental: rents a car at the destination once, cancels only what it rented."""

from __future__ import annotations

import string

from pydantic import BaseModel, Field

from booking.services.records import code
from booking.services.reservations import reservation_service
from booking.trip import TripInput
from orchestrator.commands import BusinessKey


class CarOutput(BaseModel):
    confirmation: str = Field(min_length=3)
    car: str = ""


SERVICE = reservation_service(
    name="cars",
    label="Car",
    description="Rents a car at the destination.",
    what="car",
    input=TripInput,
    output=CarOutput,
    key=BusinessKey("confirmation", "car confirmation"),
    detail_field="car",
    new_code=lambda: code("C", 7, string.digits),
    describe=lambda trip: f"Compact car at {trip.get('itinerary', {}).get('destination', 'the destination')}",
    book_summary="rent a car at {input[itinerary][destination]}",
    cancel_summary="cancel the car rental {output[confirmation]}",
    book_description="Rent a car at the destination.",
    cancel_description="Cancel the car rented for the trip.",
    done="booked, confirmation {confirmation}",
)
