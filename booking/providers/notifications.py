"""The notification service: e-mails the customer once per step."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.db import transaction
from pydantic import BaseModel, EmailStr

from booking.models import Notification
from booking.providers import trip_input
from booking.services.declaration import Effect, Result, Service, ServiceCommand
from booking.services.records import record_claim, step_of
from booking.trip import TripInput
from orchestrator.commands import commands_all
from orchestrator.messages import CommandMessage

TEMPLATES = {
    "confirmed": (
        "Your trip {reference} is booked",
        "Dear {name},\n\nyour trip is confirmed.\n{booked}Charged: {amount} {currency}\n",
    ),
    "cancelled": (
        "Your trip {reference} could not be booked",
        "Dear {name},\n\nwe could not complete your trip and have undone every part of it.\n"
        "Anything charged has been refunded.\n",
    ),
}


class NotificationOutput(BaseModel):
    notification_id: str
    to: EmailStr
    subject: str = ""


def booked_lines(context: Mapping[str, Any]) -> str:
    """What the trip holds, a line per step: "Flight: K3Q9ZD", with the codes its services issued
    (every field a service declares as a business key), in the order the steps were done."""
    fields = list(dict.fromkeys(key.field for spec in commands_all() for key in spec.keys))
    lines = []
    for step, output in context.items():
        if not isinstance(output, dict):
            continue
        codes = [str(output[field]) for field in fields if output.get(field)]
        if codes:
            lines.append(f"{step.replace('_', ' ').capitalize()}: {', '.join(codes)}\n")
    return "".join(lines)


def message_text(template: str, values: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) of a template, filled in."""
    subject, body = TEMPLATES[template]
    return subject.format(**values), body.format(**values)


def send(command: CommandMessage, refuse: bool) -> Result:
    trip = trip_input(command)
    if isinstance(trip, Result):
        return trip
    template = str(command.payload.get("params", {}).get("template", "confirmed"))
    if template not in TEMPLATES:
        return Result(succeeded=False, error=f"unknown template {template!r}", business=True)
    subject, body = message_text(
        template,
        {
            "reference": trip.reference,
            "name": trip.customer_name,
            "booked": booked_lines(command.payload.get("context", {})),
            "amount": trip.amount,
            "currency": trip.currency,
        },
    )
    with transaction.atomic(savepoint=False):
        record = record_claim(
            Notification,
            command=command,
            fields=lambda: {
                "booking_reference": trip.reference,
                "status": Notification.Status.BOUNCED if refuse else Notification.Status.SENT,
                "template": template,
                "to": trip.customer_email,
                "subject": subject,
                "body": body,
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


SERVICE = Service(
    name="notifications",
    label="Confirmation e-mail",
    description="E-mails the customer.",
    commands=(
        ServiceCommand(
            name="notifications.send",
            handler=send,
            description="E-mail the customer (params.template: confirmed or cancelled).",
            summary="e-mail {input[customer_email]}",
            input=TripInput,
            output=NotificationOutput,
        ),
    ),
    ledger=effects,
    records=(Notification,),
    refusal="bounced",
    done="sent to {to}",
    undone="",
)
