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


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before for a different request."""


def booking_create_once(*, owner: Any, key: str, fingerprint: str, **fields: Any) -> tuple[Booking, bool]:
    """booking_create, once per (owner, key): a repeat returns the first booking and False.

    Concurrent repeats meet at the unique constraint; the losers return the winner's booking.
    The same key with a different request is refused (IdempotencyConflict).
    """

    def earlier() -> Booking | None:
        found = Booking.objects.filter(idempotency_owner=owner, idempotency_key=key).first()
        if found is not None and found.request_fingerprint != fingerprint:
            raise IdempotencyConflict("this Idempotency-Key was used for a different request")
        return found

    if (existing := earlier()) is not None:
        return existing, False
    try:
        with transaction.atomic():
            booking = booking_create(**fields, idempotency=(owner, key, fingerprint))
    except IntegrityError:
        if (existing := earlier()) is not None:
            return existing, False
        raise
    return booking, True


def booking_create(
    *,
    customer_name: str,
    customer_email: str,
    itinerary: dict[str, str],
    amount: Decimal,
    currency: str,
    workflow: str = DEFAULT_WORKFLOW,
    idempotency: tuple[Any, str, str] | None = None,
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
                    idempotency_owner=idempotency[0] if idempotency else None,
                    idempotency_key=idempotency[1] if idempotency else "",
                    request_fingerprint=idempotency[2] if idempotency else "",
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
