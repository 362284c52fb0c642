"""The notification service: e-mails the customer once per step."""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction

from booking.models import Notification
from booking.providers.records import Effect, record_claim, step_of, trip_input
from booking.providers.runner import Result
from orchestrator.messages import CommandMessage

TEMPLATES = {
    "confirmed": (
        "Your trip {reference} is booked",
        "Dear {name},\n\nyour trip is confirmed.\n"
        "Flight: {pnr}\nHotel: {confirmation}\nCharged: {amount} {currency}\n",
    ),
    "cancelled": (
        "Your trip {reference} could not be booked",
        "Dear {name},\n\nwe could not complete your trip and have undone every part of it.\n"
        "Anything charged has been refunded.\n",
    ),
}


def send(command: CommandMessage, refuse: bool) -> Result:
    trip = trip_input(command)
    if isinstance(trip, Result):
        return trip
    template = str(command.payload.get("params", {}).get("template", "confirmed"))
    if template not in TEMPLATES:
        return Result(succeeded=False, error=f"unknown template {template!r}", business=True)
    context = command.payload.get("context", {})
    subject, body = TEMPLATES[template]
    values = {
        "reference": trip.reference,
        "name": trip.customer_name,
        "pnr": context.get("flight", {}).get("pnr", "-"),
        "confirmation": context.get("hotel", {}).get("confirmation", "-"),
        "amount": trip.amount,
        "currency": trip.currency,
    }
    with transaction.atomic():
        record = record_claim(
            Notification,
            command=command,
            fields=lambda: {
                "booking_reference": trip.reference,
                "status": Notification.Status.BOUNCED if refuse else Notification.Status.SENT,
                "template": template,
                "to": trip.customer_email,
                "subject": subject.format(**values),
                "body": body.format(**values),
            },
        )
    if record.status == Notification.Status.BOUNCED:
        return Result(succeeded=False, error=f"mail to {record.to} bounced", business=True)
    return Result(
        succeeded=True, output={"notification_id": str(record.pk), "to": record.to, "subject": record.subject}
    )


def effects(process_ids: Collection[str]) -> list[Effect]:
    """The e-mails sent (or bounced): nothing a compensation could take back."""
    return [
        Effect(
            service="notifications",
            process_id=str(note.process_id),
            step=step_of(note.key),
            kind="notification",
            what=f"e-mail '{note.subject}' to {note.to}"
            if note.status == Notification.Status.SENT
            else f"e-mail to {note.to} bounced",
            undoable=False,
            detail={"template": note.template, "to": note.to, "subject": note.subject, "status": note.status},
        )
        for note in Notification.objects.filter(process_id__in=process_ids).order_by("id")
    ]
