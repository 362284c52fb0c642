"""Creating trip bookings, each with the process that carries it out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from booking.models import Booking
from booking.services.records import code
from orchestrator.engine.handle import process_start

DEFAULT_WORKFLOW = "trip-booking"


def booking_reference_new() -> str:
    # 30 symbols over 6 places: about 730 million references; a clash is retried.
    return code("TRP-", 6, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")


def booking_create(
    *,
    customer_name: str,
    customer_email: str,
    itinerary: dict[str, str],
    amount: Decimal,
    currency: str,
    workflow: str = DEFAULT_WORKFLOW,
) -> Booking:
    """Record a booking and start its process in one transaction (the process's key is the reference)."""
    for _ in range(5):
        reference = booking_reference_new()
        try:
            with transaction.atomic():
                booking = Booking.objects.create(
                    reference=reference,
                    customer_name=customer_name,
                    customer_email=customer_email,
                    itinerary=itinerary,
                    amount=amount.quantize(Decimal("0.01")),
                    currency=currency.upper(),
                    workflow=workflow,
                )
                process, _ = process_start(
                    workflow=workflow, business_key=booking.reference, input=booking_input(booking)
                )
                booking.process = process
                booking.save(update_fields=["process"])
                return booking
        except IntegrityError:
            if Booking.objects.filter(reference=reference).exists():
                continue  # the reference was taken: draw another
            raise
    raise RuntimeError("could not draw a free booking reference")


def booking_input(booking: Booking) -> dict[str, Any]:
    return {
        "booking_id": str(booking.pk),
        "reference": booking.reference,
        "customer_name": booking.customer_name,
        "customer_email": booking.customer_email,
        "amount": str(booking.amount),
        "currency": booking.currency,
        "itinerary": booking.itinerary,
    }
