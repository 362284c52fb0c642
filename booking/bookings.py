"""Creating trip bookings, each with the process that carries it out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from booking.models import Booking
from booking.services.records import code
from orchestrator.processes import process_start

DEFAULT_WORKFLOW = "trip-booking"


def booking_reference_new() -> str:
    # 30 symbols over 6 places: about 730 million references; a clash is retried.
    return code("TRP-", 6, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before for a different request."""


def idempotency_scope(owner: Any) -> str:
    """Whose keys a key is compared with: one API client's, or the checkout form's."""
    return f"user:{owner.pk}" if owner is not None else "checkout"


def booking_create_once(*, owner: Any, key: str, fingerprint: str, **fields: Any) -> tuple[Booking, bool]:
    """booking_create, once per key of a client: a repeat returns the first booking and False.

    `owner` is the API client (None for the checkout form). Concurrent repeats meet at the unique
    constraint; the losers return the winner's booking. The same key with a different request is
    refused (IdempotencyConflict).
    """
    scope = idempotency_scope(owner)

    def earlier() -> Booking | None:
        found = Booking.objects.filter(idempotency_scope=scope, idempotency_key=key).first()
        if found is not None and found.request_fingerprint != fingerprint:
            raise IdempotencyConflict("this Idempotency-Key was used for a different request")
        return found

    if (existing := earlier()) is not None:
        return existing, False
    try:
        with transaction.atomic():
            booking = booking_create(**fields, idempotency=Idempotency(owner, scope, key, fingerprint))
    except IntegrityError:
        if (existing := earlier()) is not None:
            return existing, False
        raise
    return booking, True


@dataclass(frozen=True)
class Idempotency:
    owner: Any
    scope: str
    key: str
    fingerprint: str


class ReferenceTaken(Exception):
    """The drawn reference is already some process's business key: draw another."""


def booking_create(
    *,
    customer_name: str,
    customer_email: str,
    itinerary: dict[str, str],
    amount: Decimal,
    currency: str,
    workflow: str = DEFAULT_WORKFLOW,
    idempotency: Idempotency | None = None,
) -> Booking:
    """Record a booking and start its process in one transaction (the process's key is the reference).

    A reference that clashes with an existing booking, or with a process started under the same
    business key, is drawn again: a new booking never adopts someone else's process.
    """
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
                    idempotency_owner=idempotency.owner if idempotency else None,
                    idempotency_scope=idempotency.scope if idempotency else "",
                    idempotency_key=idempotency.key if idempotency else "",
                    request_fingerprint=idempotency.fingerprint if idempotency else "",
                )
                process, created = process_start(
                    workflow=workflow, business_key=booking.reference, input=booking_input(booking)
                )
                if not created:
                    raise ReferenceTaken(reference)
                booking.process = process
                booking.save(update_fields=["process"])
                return booking
        except ReferenceTaken:
            continue  # rolled back: nothing of this attempt is left
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
