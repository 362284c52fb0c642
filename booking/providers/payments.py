"""The payment service: charges a trip once, refunds exactly what it charged."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from django.db import transaction
from pydantic import BaseModel, Field

from booking.models import Charge, Refund
from booking.providers import trip_input
from booking.services.declaration import Effect, Result, Service, ServiceCommand
from booking.services.records import code, record_claim, step_of
from booking.trip import TripInput
from orchestrator.commands import BusinessKey
from orchestrator.messages import CommandMessage


class ChargeOutput(BaseModel):
    payment_id: str = Field(min_length=1)
    amount: str
    currency: str


class RefundOutput(BaseModel):
    refund_id: str | None = None
    amount: str
    currency: str


def charge(command: CommandMessage, refuse: bool) -> Result:
    trip = trip_input(command)
    if isinstance(trip, Result):
        return trip
    with transaction.atomic(savepoint=False):
        record = record_claim(
            Charge,
            command=command,
            fields=lambda: {
                "booking_reference": trip.reference,
                "status": Charge.Status.DECLINED if refuse else Charge.Status.CHARGED,
                "payment_id": "" if refuse else code("pay_", 12),
                "amount": Decimal(trip.amount),
                "currency": trip.currency,
            },
        )
    if record.status == Charge.Status.CHARGED:
        return Result(
            succeeded=True,
            output={
                "payment_id": record.payment_id,
                "amount": str(record.amount),
                "currency": record.currency,
            },
        )
    if record.status == Charge.Status.DECLINED:
        return Result(succeeded=False, error="card declined", business=True)
    return Result(succeeded=False, error="the payment was voided before it was charged", business=True)


def refund(command: CommandMessage, refuse: bool) -> Result:
    trip = trip_input(command)
    currency = trip.currency if not isinstance(trip, Result) else ""
    reference = trip.reference if not isinstance(trip, Result) else ""
    with transaction.atomic(savepoint=False):
        record = record_claim(
            Charge,
            command=command,
            # Nothing was charged yet: void the key so that a late charge is refused.
            fields=lambda: {
                "booking_reference": reference,
                "status": Charge.Status.VOIDED,
                "amount": Decimal("0.00"),
                "currency": currency,
            },
        )
        if record.status != Charge.Status.CHARGED:
            return Result(
                succeeded=True, output={"refund_id": None, "amount": "0.00", "currency": record.currency}
            )
        money_back, _ = Refund.objects.get_or_create(
            charge=record,
            defaults={"refund_id": code("re_", 12), "amount": record.amount, "currency": record.currency},
        )
    return Result(
        succeeded=True,
        output={
            "refund_id": money_back.refund_id,
            "amount": str(money_back.amount),
            "currency": money_back.currency,
        },
    )


def effects(process_ids: Collection[str]) -> list[Effect]:
    """The ledger of the payment service: each charge, and its refund if there is one."""
    found = []
    for charge in Charge.objects.filter(process_id__in=process_ids).select_related("refund").order_by("id"):
        refund = getattr(charge, "refund", None)
        charged = charge.amount if charge.status == Charge.Status.CHARGED else Decimal("0.00")
        refunded = refund.amount if refund is not None else Decimal("0.00")
        found.append(
            Effect(
                service="payments",
                process_id=str(charge.process_id),
                step=step_of(charge.key),
                kind="charge",
                what={
                    Charge.Status.CHARGED: f"charged {charge.amount} {charge.currency} ({charge.payment_id})",
                    Charge.Status.DECLINED: "card declined: nothing charged",
                    Charge.Status.VOIDED: "voided before any charge",
                }[Charge.Status(charge.status)],
                undo=f"refunded {refund.amount} {refund.currency} ({refund.refund_id})" if refund else "",
                in_place=charged > refunded,
                charged=charged,
                refunded=refunded,
                detail={
                    "payment_id": charge.payment_id,
                    "status": charge.status,
                    "amount": str(charge.amount),
                    "currency": charge.currency,
                    "refund_id": refund.refund_id if refund else None,
                    "refunded": str(refunded),
                },
            )
        )
    return found


SERVICE = Service(
    name="payments",
    label="Payment",
    description="Charges the customer the trip's amount, and refunds it.",
    commands=(
        ServiceCommand(
            name="payments.charge",
            handler=charge,
            description="Charge the customer the trip's amount.",
            summary="charge {input[amount]} {input[currency]} to {input[customer_name]}",
            input=TripInput,
            output=ChargeOutput,
            undo="payments.refund",
            keys=(BusinessKey("payment_id", "payment id"),),
        ),
        ServiceCommand(
            name="payments.refund",
            handler=refund,
            description="Refund exactly what the charge took.",
            summary="refund {output[amount]} {output[currency]} (payment {output[payment_id]})",
            input=TripInput,
            output=RefundOutput,
        ),
    ),
    ledger=effects,
    records=(Charge, Refund),
    refusal="card declined",
    done="paid {amount} {currency}",
    undone="refunded",
)
