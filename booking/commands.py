"""The commands the four trip services declare (see orchestrator.commands)."""

from __future__ import annotations

from pydantic import BaseModel, EmailStr, Field

from orchestrator.commands import CommandSpec, register


class TripInput(BaseModel):
    """What every trip command reads from the process input."""

    reference: str
    customer_name: str
    customer_email: EmailStr
    amount: str
    currency: str = Field(min_length=3, max_length=3)
    itinerary: dict[str, str] = Field(default_factory=dict)


class ChargeOutput(BaseModel):
    payment_id: str = Field(min_length=1)
    amount: str
    currency: str


class RefundOutput(BaseModel):
    refund_id: str | None = None
    amount: str
    currency: str


class FlightOutput(BaseModel):
    pnr: str = Field(min_length=5, max_length=8)
    flight: str = ""


class HotelOutput(BaseModel):
    confirmation: str = Field(min_length=3)
    hotel: str = ""


class CarOutput(BaseModel):
    confirmation: str = Field(min_length=3)
    car: str = ""


class CancelOutput(BaseModel):
    cancelled: bool
    reference: str | None = None


class NotificationOutput(BaseModel):
    notification_id: str
    to: EmailStr
    subject: str = ""


COMMANDS = (
    CommandSpec(
        name="payments.charge",
        summary="charge {input[amount]} {input[currency]} to {input[customer_name]}",
        queue="payments",
        description="Charge the customer the trip's amount.",
        input=TripInput,
        output=ChargeOutput,
        compensation="payments.refund",
    ),
    CommandSpec(
        name="payments.refund",
        summary="refund {output[amount]} {output[currency]} (payment {output[payment_id]})",
        queue="payments",
        description="Refund exactly what the charge took.",
        input=TripInput,
        output=RefundOutput,
        is_compensation=True,
    ),
    CommandSpec(
        name="flights.book",
        summary="book the flight {input[itinerary][origin]}→{input[itinerary][destination]}",
        queue="flights",
        description="Book the flight of the itinerary.",
        input=TripInput,
        output=FlightOutput,
        compensation="flights.cancel",
    ),
    CommandSpec(
        name="flights.cancel",
        summary="cancel flight PNR {output[pnr]}",
        queue="flights",
        description="Cancel the flight booked for the trip.",
        input=TripInput,
        output=CancelOutput,
        is_compensation=True,
    ),
    CommandSpec(
        name="hotels.book",
        summary="book {input[itinerary][hotel]}",
        queue="hotels",
        description="Book the hotel of the itinerary.",
        input=TripInput,
        output=HotelOutput,
        compensation="hotels.cancel",
    ),
    CommandSpec(
        name="hotels.cancel",
        summary="cancel the hotel booking {output[confirmation]}",
        queue="hotels",
        description="Cancel the hotel booked for the trip.",
        input=TripInput,
        output=CancelOutput,
        is_compensation=True,
    ),
    CommandSpec(
        name="cars.book",
        summary="rent a car at {input[itinerary][destination]}",
        queue="cars",
        description="Rent a car at the destination.",
        input=TripInput,
        output=CarOutput,
        compensation="cars.cancel",
    ),
    CommandSpec(
        name="cars.cancel",
        summary="cancel the car rental {output[confirmation]}",
        queue="cars",
        description="Cancel the car rented for the trip.",
        input=TripInput,
        output=CancelOutput,
        is_compensation=True,
    ),
    CommandSpec(
        name="notifications.send",
        summary="e-mail {input[customer_email]}",
        queue="notifications",
        description="E-mail the customer (params.template: confirmed or cancelled).",
        input=TripInput,
        output=NotificationOutput,
    ),
)


def commands_register() -> None:
    for spec in COMMANDS:
        register(spec)
