"""Travel insurance: a service the project does not ship, declared in this one module.

It is what a team adding a service writes (README, "Add a service"): the commands and their
handlers, which one undoes which, the business key its policies carry, its records (in the
reservations table every reserving service shares) and how they read in the ledger, and its words.
A process loads it when SERVICE_MODULES names it (tests.e2e.insurance_service); nothing else of the
project mentions it.
"""

from __future__ import annotations

import string
from collections.abc import Collection
from decimal import Decimal

from django.db import transaction
from pydantic import BaseModel, Field, ValidationError

from booking.models import Reservation
from booking.services.declaration import Effect, Result, Service, ServiceCommand
from booking.services.records import code, record_claim, step_of
from booking.services.reservations import CancelOutput
from booking.trip import TripInput
from orchestrator.commands import BusinessKey
from orchestrator.messages import CommandMessage

NAME = "insurance"
# The insurer covers trips up to this amount; a dearer one is declined (a business failure).
COVER_LIMIT = Decimal("10000.00")
PREMIUM_RATE = Decimal("0.04")


class PolicyOutput(BaseModel):
    policy_number: str = Field(pattern=r"^POL-[0-9]{8}$")
    cover: str


def buy(command: CommandMessage, refuse: bool) -> Result:
    """Issue a cancellation-cover policy for the trip, once per idempotency key."""
    try:
        trip = TripInput.model_validate(command.payload.get("input", {}))
    except ValidationError:
        return Result(succeeded=False, error="invalid trip input", business=True)
    amount = Decimal(trip.amount)
    declined = refuse or amount > COVER_LIMIT
    premium = (amount * PREMIUM_RATE).quantize(Decimal("0.01"))
    destination = trip.itinerary.get("destination", "anywhere")
    with transaction.atomic():
        record = record_claim(
            Reservation,
            command=command,
            fields=lambda: {
                "service": NAME,
                "booking_reference": trip.reference,
                "status": Reservation.Status.REFUSED if declined else Reservation.Status.BOOKED,
                "code": "" if declined else code("POL-", 8, string.digits),
                "details": f"cancellation cover to {destination}, premium {premium} {trip.currency}",
            },
        )
    if record.status == Reservation.Status.REFUSED:
        return Result(
            succeeded=False, error=f"cover declined for {trip.amount} {trip.currency}", business=True
        )
    if record.status == Reservation.Status.VOIDED:
        return Result(succeeded=False, error="the policy was voided before it was issued", business=True)
    return Result(succeeded=True, output={"policy_number": record.code, "cover": record.details})


def cancel(command: CommandMessage, refuse: bool) -> Result:
    """Cancel the policy this key issued; void the key when none was (a late purchase is refused)."""
    with transaction.atomic():
        record = record_claim(
            Reservation,
            command=command,
            fields=lambda: {"service": NAME, "status": Reservation.Status.VOIDED},
        )
        if record.status == Reservation.Status.BOOKED:
            record.status = Reservation.Status.CANCELLED
            record.save(update_fields=["status", "updated_at"])
    cancelled = record.status == Reservation.Status.CANCELLED
    return Result(
        succeeded=True, output={"cancelled": cancelled, "reference": record.code if cancelled else None}
    )


def effects(process_ids: Collection[str]) -> list[Effect]:
    """The policies, as the ledger shows them."""
    return [
        Effect(
            service=NAME,
            process_id=str(policy.process_id),
            step=step_of(policy.key),
            kind="reservation",
            what=f"policy {policy.code}: {policy.details}" if policy.code else f"no policy ({policy.status})",
            undo=f"policy {policy.code} cancelled" if policy.status == Reservation.Status.CANCELLED else "",
            in_place=policy.status == Reservation.Status.BOOKED,
            detail={
                "service": NAME,
                "reference": policy.code,
                "details": policy.details,
                "status": policy.status,
            },
        )
        for policy in Reservation.objects.filter(service=NAME, process_id__in=process_ids).order_by("id")
    ]


SERVICE = Service(
    name=NAME,
    label="Travel insurance",
    description="Insures the trip against its cancellation.",
    commands=(
        ServiceCommand(
            name="insurance.buy",
            handler=buy,
            description="Buy a cancellation-cover policy for the trip.",
            summary="insure the trip to {input[itinerary][destination]}",
            input=TripInput,
            output=PolicyOutput,
            undo="insurance.cancel",
            keys=(BusinessKey("policy_number", "policy number"),),
        ),
        ServiceCommand(
            name="insurance.cancel",
            handler=cancel,
            description="Cancel the trip's policy.",
            summary="cancel policy {output[policy_number]}",
            input=TripInput,
            output=CancelOutput,
        ),
    ),
    ledger=effects,
    records=(Reservation,),
    refusal="cover declined",
    done="insured, policy {policy_number}",
    undone="policy cancelled",
)
