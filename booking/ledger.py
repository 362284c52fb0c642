"""What the services really did for each booking, and whether the money adds up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count

from booking.models import (
    Booking,
    CarReservation,
    Charge,
    FlightReservation,
    HotelReservation,
    Notification,
    Refund,
)
from orchestrator.status import ProcessStatus


@dataclass
class Ledger:
    reference: str
    charged: Decimal = Decimal("0.00")
    refunded: Decimal = Decimal("0.00")
    charges: int = 0  # successful charges (never more than one)
    flights_booked: int = 0  # still booked, i.e. not cancelled
    flights_cancelled: int = 0
    hotels_booked: int = 0
    hotels_cancelled: int = 0
    notifications: list[str] = field(default_factory=list)  # templates sent

    @property
    def net(self) -> Decimal:
        return self.charged - self.refunded


def ledgers_for(references: Iterable[str]) -> dict[str, Ledger]:
    """One ledger per booking reference, in a fixed number of queries."""
    refs = list(references)
    ledgers = {ref: Ledger(reference=ref) for ref in refs}
    for charge in Charge.objects.filter(booking_reference__in=refs, status=Charge.Status.CHARGED):
        ledger = ledgers[charge.booking_reference]
        ledger.charged += charge.amount
        ledger.charges += 1
    for refund in Refund.objects.filter(charge__booking_reference__in=refs).select_related("charge"):
        ledgers[refund.charge.booking_reference].refunded += refund.amount
    for model, booked, cancelled in (
        (FlightReservation, "flights_booked", "flights_cancelled"),
        (HotelReservation, "hotels_booked", "hotels_cancelled"),
    ):
        rows = (
            model.objects.filter(booking_reference__in=refs, status__in=["booked", "cancelled"])
            .values("booking_reference", "status")
            .annotate(n=Count("id"))
        )
        for row in rows:
            ledger = ledgers[row["booking_reference"]]
            name = booked if row["status"] == "booked" else cancelled
            setattr(ledger, name, getattr(ledger, name) + row["n"])
    for note in Notification.objects.filter(booking_reference__in=refs, status=Notification.Status.SENT):
        ledgers[note.booking_reference].notifications.append(note.template)
    return ledgers


def money_problems(bookings: Iterable[Booking]) -> list[str]:
    """Every booking whose side effects do not match how its process ended.

    Completed: charged exactly the amount once, one flight and one hotel still booked.
    Compensated or cancelled: nothing charged net, nothing left booked.
    """
    bookings = list(bookings)
    ledgers = ledgers_for(b.reference for b in bookings)
    problems = []
    for booking in bookings:
        ledger = ledgers[booking.reference]
        status = booking.process.status if booking.process else None
        if ledger.charges > 1:
            problems.append(f"{booking.reference}: charged {ledger.charges} times")
        if status == ProcessStatus.COMPLETED:
            if ledger.net != booking.amount:
                problems.append(
                    f"{booking.reference}: completed but net charge {ledger.net} != {booking.amount}"
                )
            if (ledger.flights_booked, ledger.hotels_booked) != (1, 1):
                problems.append(
                    f"{booking.reference}: completed with {ledger.flights_booked} flight(s) and "
                    f"{ledger.hotels_booked} hotel(s) booked"
                )
        elif status in (ProcessStatus.COMPENSATED, ProcessStatus.CANCELLED):
            if ledger.net != 0:
                problems.append(f"{booking.reference}: {status} but net charge {ledger.net}")
            if ledger.flights_booked or ledger.hotels_booked:
                problems.append(f"{booking.reference}: {status} but a flight or hotel is still booked")
    return problems


@dataclass(frozen=True)
class Effect:
    """One thing a service did for a booking, and where its undoing stands."""

    service: str
    step: str
    what: str
    undo: str  # what undid it, if anything
    compensation: str  # compensated, pending compensation, compensation failed, not needed, in doubt, kept


def effects_for(booking: Booking, steps: dict[str, dict[str, object]], process_status: str) -> list[Effect]:
    """The side-effect ledger of one booking, each effect with its compensation status.

    `steps` is the process snapshot's steps (status, in_doubt, ...), keyed by step key; the
    trip's steps are named payment, flight, hotel, notify and notify_cancelled.
    """
    ref = booking.reference
    effects: list[Effect] = []

    def standing(step: str, has_effect: bool) -> str:
        st = steps.get(step, {})
        status = str(st.get("status", ""))
        if status == "compensated":
            return "compensated"
        if status == "compensation_failed":
            return "compensation failed"
        if status.startswith("compensation") or status == "compensating":
            return "pending compensation"
        if st.get("in_doubt") and status not in ("succeeded",):
            return "in doubt"
        if has_effect and process_status in ("compensated", "cancelled"):
            return "NOT compensated"
        return "kept" if has_effect else "not needed"

    for charge in Charge.objects.filter(booking_reference=ref).select_related("refund"):
        refund = getattr(charge, "refund", None)
        what = {
            Charge.Status.CHARGED: f"charged {charge.amount} {charge.currency} ({charge.payment_id})",
            Charge.Status.DECLINED: "card declined: nothing charged",
            Charge.Status.VOIDED: "voided before any charge",
        }[Charge.Status(charge.status)]
        undo = f"refunded {refund.amount} {refund.currency} ({refund.refund_id})" if refund else ""
        effects.append(
            Effect("payments", "payment", what, undo, standing("payment", charge.status == "charged"))
        )
    for model, service, step, label in (
        (FlightReservation, "flights", "flight", "flight"),
        (HotelReservation, "hotels", "hotel", "hotel"),
        (CarReservation, "cars", "car", "car rental"),
    ):
        for record in model.objects.filter(booking_reference=ref):
            code = getattr(record, "pnr", "") or getattr(record, "confirmation", "")
            detail = getattr(record, "flight", "") or getattr(record, "hotel", "")
            what = {
                "booked": f"{label} booked: {code} {detail}".strip(),
                "cancelled": f"{label} booked: {code} {detail}".strip(),
                "sold_out": f"{label} sold out: nothing booked",
                "voided": "voided before any booking",
            }[record.status]
            undo = f"cancelled ({code})" if record.status == "cancelled" else ""
            effects.append(
                Effect(service, step, what, undo, standing(step, record.status in ("booked", "cancelled")))
            )
    for note in Notification.objects.filter(booking_reference=ref).order_by("created_at"):
        what = (
            f"e-mail '{note.subject}' to {note.to}"
            if note.status == "sent"
            else f"e-mail to {note.to} bounced"
        )
        effects.append(Effect("notifications", "notify", what, "", "not needed"))
    return effects


def ledger_details(booking: Booking) -> dict[str, Any]:
    """Every charge, reservation and e-mail of a booking, as plain data (the API's ledger)."""
    ref = booking.reference
    charges = []
    charged = refunded = Decimal("0.00")
    for charge in Charge.objects.filter(booking_reference=ref).select_related("refund"):
        refund = getattr(charge, "refund", None)
        if charge.status == Charge.Status.CHARGED:
            charged += charge.amount
        if refund is not None:
            refunded += refund.amount
        charges.append(
            {
                "payment_id": charge.payment_id,
                "status": charge.status,
                "amount": str(charge.amount),
                "currency": charge.currency,
                "refund_id": refund.refund_id if refund else None,
                "refunded": str(refund.amount if refund else Decimal("0.00")),
            }
        )
    reservations = []
    for model, service, code, detail in (
        (FlightReservation, "flights", "pnr", "flight"),
        (HotelReservation, "hotels", "confirmation", "hotel"),
        (CarReservation, "cars", "confirmation", "car"),
    ):
        for record in model.objects.filter(booking_reference=ref):
            reservations.append(
                {
                    "service": service,
                    "reference": getattr(record, code),
                    "details": getattr(record, detail),
                    "status": record.status,
                }
            )
    notifications = [
        {"template": n.template, "to": n.to, "subject": n.subject, "status": n.status}
        for n in Notification.objects.filter(booking_reference=ref).order_by("created_at")
    ]
    return {
        "charged": str(charged),
        "refunded": str(refunded),
        "charges": charges,
        "reservations": reservations,
        "notifications": notifications,
    }
