"""Creating trip bookings, each with the process that carries it out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from booking.models import Booking
from booking.services.records import code
from orchestrator.models import ProcessInstance
from orchestrator.processes import NewProcess, processes_start

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


@dataclass(frozen=True)
class Trip:
    """What a customer books: who, where, for how much."""

    customer_name: str
    customer_email: str
    itinerary: dict[str, str]
    amount: Decimal
    currency: str


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
    """Record a booking and start its process in one transaction (the process's key is the reference)."""
    trip = Trip(customer_name, customer_email, itinerary, amount, currency)
    (booking,) = bookings_create([trip], workflow=workflow, idempotency=idempotency)
    return booking


def bookings_create(
    trips: Sequence[Trip], *, workflow: str = DEFAULT_WORKFLOW, idempotency: Idempotency | None = None
) -> list[Booking]:
    """Record bookings and start their processes in one transaction of four statements whatever
    their number (read the workflow's version, insert the processes, write their histories and
    first commands, insert the bookings); the commands leave after the commit.

    A reference that clashes with an existing booking, or with a process started under the same
    business key, is drawn again for the whole batch: a new booking never adopts someone else's
    process. Any other conflict (the Idempotency-Key's) raises IntegrityError.
    """
    for _ in range(5):
        bookings = [_booking(trip, workflow, idempotency) for trip in trips]
        try:
            with transaction.atomic():
                processes = processes_start(
                    workflow=workflow,
                    starts=[NewProcess(booking.reference, booking_input(booking)) for booking in bookings],
                )
                for booking, process in zip(bookings, processes, strict=True):
                    booking.process = process
                return Booking.objects.bulk_create(bookings)
        except IntegrityError:
            if _references_taken(workflow, [booking.reference for booking in bookings]):
                continue  # rolled back: nothing of this attempt is left; draw again
            raise
    raise RuntimeError("could not draw free booking references")


def _booking(trip: Trip, workflow: str, idempotency: Idempotency | None) -> Booking:
    return Booking(
        reference=booking_reference_new(),
        customer_name=trip.customer_name,
        customer_email=trip.customer_email,
        itinerary=trip.itinerary,
        amount=trip.amount.quantize(Decimal("0.01")),
        currency=trip.currency.upper(),
        workflow=workflow,
        idempotency_owner=idempotency.owner if idempotency else None,
        idempotency_scope=idempotency.scope if idempotency else "",
        idempotency_key=idempotency.key if idempotency else "",
        request_fingerprint=idempotency.fingerprint if idempotency else "",
    )


def _references_taken(workflow: str, references: list[str]) -> bool:
    return (
        len(set(references)) < len(references)
        or Booking.objects.filter(reference__in=references).exists()
        or ProcessInstance.objects.filter(workflow_name=workflow, business_key__in=references).exists()
    )


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
