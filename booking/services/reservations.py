"""Services that reserve something and can cancel it: a seat, a room, a car, an insurance policy.

They differ only in their words and in the code they issue, so one function declares such a
service (`reservation_service`): a book command that claims the key's record and issues a code,
and a cancel command that cancels only what that key booked. Their records share one table
(`Reservation`, by service), so a new one needs no migration.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from booking.models import Reservation
from booking.services.declaration import DemoFaults, Effect, Result, Service, ServiceCommand
from booking.services.records import record_claim, step_of
from orchestrator.commands import BusinessKey
from orchestrator.messages import CommandMessage


class CancelOutput(BaseModel):
    cancelled: bool
    reference: str | None = None


@dataclass(frozen=True)
class _Reserving:
    service: str
    what: str  # "flight", in messages
    input: type[BaseModel]
    code_field: str
    detail_field: str
    new_code: Callable[[], str]
    describe: Callable[[dict[str, Any]], str]  # what is booked, from the process input
    refusal: str  # what a business failure is: "sold out"

    def book(self, command: CommandMessage, refuse: bool) -> Result:
        given = command.payload.get("input", {})
        try:
            self.input.model_validate(given)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
            return Result(succeeded=False, error=f"invalid input ({fields})", business=True)
        booked = {"code": self.new_code(), "details": self.describe(given)[:200]}
        with transaction.atomic(savepoint=False):
            record = record_claim(
                Reservation,
                command=command,
                fields=lambda: {
                    "service": self.service,
                    "booking_reference": str(given.get("reference", ""))[:16],
                    "status": Reservation.Status.REFUSED if refuse else Reservation.Status.BOOKED,
                    **({} if refuse else booked),
                },
            )
        if record.status == Reservation.Status.REFUSED:
            return Result(succeeded=False, error=f"{self.what} {self.refusal}", business=True)
        if record.status == Reservation.Status.VOIDED:
            return Result(
                succeeded=False, error=f"the {self.what} booking was voided before it was made", business=True
            )
        return Result(
            succeeded=True, output={self.code_field: record.code, self.detail_field: record.details}
        )

    def cancel(self, command: CommandMessage, refuse: bool) -> Result:
        """Cancel what this key booked; voids the key when nothing was (a late booking is refused)."""
        with transaction.atomic(savepoint=False):
            record = record_claim(
                Reservation,
                command=command,
                fields=lambda: {"service": self.service, "status": Reservation.Status.VOIDED},
            )
            if record.status == Reservation.Status.BOOKED:
                record.status = Reservation.Status.CANCELLED
                record.cancelled_at = timezone.now()
                record.save(update_fields=["status", "cancelled_at", "updated_at"])
        cancelled = record.status == Reservation.Status.CANCELLED
        return Result(
            succeeded=True, output={"cancelled": cancelled, "reference": record.code if cancelled else None}
        )

    def effects(self, process_ids: Collection[str]) -> list[Effect]:
        """This service's ledger: each reservation, and whether it was cancelled."""
        found = []
        records = Reservation.objects.filter(service=self.service, process_id__in=process_ids).order_by("id")
        for record in records:
            booked = f"{self.what} booked: {record.code} {record.details}".strip()
            found.append(
                Effect(
                    service=self.service,
                    process_id=str(record.process_id),
                    step=step_of(record.key),
                    kind="reservation",
                    what={
                        Reservation.Status.BOOKED: booked,
                        Reservation.Status.CANCELLED: booked,
                        Reservation.Status.REFUSED: f"{self.what} {self.refusal}: nothing booked",
                        Reservation.Status.VOIDED: "voided before any booking",
                    }[Reservation.Status(record.status)],
                    undo=f"cancelled ({record.code})"
                    if record.status == Reservation.Status.CANCELLED
                    else "",
                    in_place=record.status == Reservation.Status.BOOKED,
                    detail={
                        "service": self.service,
                        "reference": record.code,
                        "details": record.details,
                        "status": record.status,
                    },
                )
            )
        return found


def reservation_service(
    *,
    name: str,
    label: str,
    description: str,
    what: str,
    input: type[BaseModel],
    output: type[BaseModel],
    key: BusinessKey,
    detail_field: str,
    new_code: Callable[[], str],
    describe: Callable[[dict[str, Any]], str],
    book_summary: str,
    cancel_summary: str,
    book: str = "book",
    cancel: str = "cancel",
    book_description: str = "",
    cancel_description: str = "",
    refusal: str = "sold out",
    done: str = "",
    demo_faults: DemoFaults | None = None,
) -> Service:
    """A service with a book and a cancel command (`<name>.<book>`, `<name>.<cancel>`).

    `output` is what a booking returns: the code under `key.field` and what was booked under
    `detail_field`; `describe(input)` says what is booked from the process input; `new_code()`
    draws the code a customer quotes."""
    reserving = _Reserving(
        service=name,
        what=what,
        input=input,
        code_field=key.field,
        detail_field=detail_field,
        new_code=new_code,
        describe=describe,
        refusal=refusal,
    )
    book_name, cancel_name = f"{name}.{book}", f"{name}.{cancel}"
    return Service(
        name=name,
        label=label,
        description=description,
        commands=(
            ServiceCommand(
                name=book_name,
                handler=reserving.book,
                description=book_description or f"{book.capitalize()} the {what}.",
                summary=book_summary,
                input=input,
                output=output,
                undo=cancel_name,
                keys=(key,),
            ),
            ServiceCommand(
                name=cancel_name,
                handler=reserving.cancel,
                description=cancel_description
                or f"{cancel.capitalize()} the {what} booked for this process.",
                summary=cancel_summary,
                input=input,
                output=CancelOutput,
            ),
        ),
        ledger=reserving.effects,
        records=(Reservation,),
        refusal=refusal,
        done=done or f"booked, {key.label} {{{key.field}}}",
        undone="cancelled",
        demo_faults=demo_faults or DemoFaults(),
    )
