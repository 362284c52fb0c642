"""What a service declares, once, in a module of its own (see booking/providers/ and the README's
"Add a service").

A `Service` names its queue, its commands and the function that handles each, which command
undoes which, the business keys its results carry, the records it keeps, how those records read
in the ledger, and the words customers and operators see. The registry (booking.services.registry)
derives everything else from the declarations: Celery tasks and routes, the queues workers consume
and the worker layouts, the engine's command specs (checked workflows, previews, searchable keys),
the fault settings, the API's service names, the ledger and the labels of the dashboard and the shop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import models
from pydantic import BaseModel

from orchestrator.commands import BusinessKey, NoFields
from orchestrator.messages import CommandMessage

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Result:
    """What a handler did with a command: the reply the orchestrator gets."""

    succeeded: bool
    output: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    business: bool = False  # a final refusal for this idempotency key (else retried)


# A command's handler: (the command, whether a business fault was drawn for it) -> Result. It runs
# inside the transaction of its batch (booking.services.runner): what it writes commits with the
# others, and a handler that raises has the batch run again one command at a time. A block of its
# own needs no savepoint: `transaction.atomic(savepoint=False)`.
Handler = Callable[[CommandMessage, bool], Result]


@dataclass(frozen=True)
class Effect:
    """One thing a service did under one idempotency key, as the ledger shows it."""

    service: str
    process_id: str
    step: str
    kind: str  # "charge", "reservation", "notification"...: the API groups them by kind
    what: str  # in words, for the dashboard
    undo: str = ""  # what undid it, if anything
    in_place: bool = False  # it still stands: charged and not refunded, booked and not cancelled
    undoable: bool = True  # a compensation takes this kind of effect back (an e-mail it cannot)
    charged: Decimal = Decimal("0.00")
    refunded: Decimal = Decimal("0.00")
    detail: dict[str, Any] = field(default_factory=dict)  # the API's fields for it


# A service's ledger: the effects of its records for some processes (by id), in one query.
LedgerSource = Callable[[Collection[str]], list[Effect]]


@dataclass(frozen=True)
class ServiceCommand:
    """One command a service handles."""

    name: str  # "<service>.<verb>", e.g. "parcels.ship": also its Celery task's name
    handler: Handler  # (command, refuse) -> Result; `refuse` is a drawn business fault
    description: str
    # What it does for people, over the process `input` and, for an undo, the `output` of the
    # step it undoes: "ship to {input[address]}", "recall parcel {output[tracking_number]}".
    summary: str = ""
    input: type[BaseModel] = NoFields  # what it reads of the process input
    output: type[BaseModel] = NoFields  # what a success returns
    undo: str | None = None  # the command of the same service that takes it back
    keys: tuple[BusinessKey, ...] = ()  # values of its output that people quote


@dataclass(frozen=True)
class DemoFaults:
    """The fault settings a fresh demo starts with, so that it shows retries and compensations."""

    technical_rate: float = 0.05
    business_rate: float = 0.02


@dataclass(frozen=True)
class Service:
    """A service: its commands, its records and its words."""

    name: str  # e.g. "parcels": also its queue unless `queue` says otherwise
    label: str  # for customers and operators: "Parcel delivery"
    description: str
    commands: tuple[ServiceCommand, ...]
    ledger: LedgerSource  # how its records read as effects (booking.ledger)
    records: tuple[type[models.Model], ...] = ()  # the tables it keeps: read-only in the admin
    refusal: str = "refused"  # what a business failure is, in words: "card declined", "sold out"
    # For the customer, over the step's output: what a success means ("shipped, {tracking_number}")
    # and what its undoing does ("recalled").
    done: str = "done"
    undone: str = "undone"
    queue: str = ""  # the queue its worker consumes (default: its name)
    demo_faults: DemoFaults = DemoFaults()

    def __post_init__(self) -> None:
        if not self.queue:
            object.__setattr__(self, "queue", self.name)

    def command(self, name: str) -> ServiceCommand:
        for command in self.commands:
            if command.name == name:
                return command
        raise KeyError(name)

    def done_text(self, output: dict[str, Any]) -> str:
        """What its success did, in the customer's words (the template as is if a field is missing)."""
        try:
            return self.done.format(**output)
        except (KeyError, IndexError, ValueError):
            return self.done.split("{", 1)[0].rstrip(" ,") or self.done


class InvalidDeclaration(ValueError):
    """A service declaration that cannot work, with the reason."""


def declaration_problems(service: Service) -> list[str]:
    """What is wrong with a declaration (an empty list when nothing is)."""
    problems = []
    if not NAME.match(service.name):
        problems.append(f"name {service.name!r}: lower-case letters, digits, '-' and '_'")
    if not NAME.match(service.queue):
        problems.append(f"queue {service.queue!r}: lower-case letters, digits, '-' and '_'")
    if not service.commands:
        problems.append("no commands")
    names = [command.name for command in service.commands]
    for name in names:
        if not name.startswith(f"{service.name}.") or not NAME.match(name.split(".", 1)[1]):
            problems.append(f"command {name!r}: name it '{service.name}.<verb>'")
        if names.count(name) > 1:
            problems.append(f"command {name!r} declared twice")
    for command in service.commands:
        if command.undo is not None and command.undo not in names:
            problems.append(f"{command.name}: its undo {command.undo!r} is not a command of {service.name}")
        if command.undo == command.name:
            problems.append(f"{command.name} cannot undo itself")
        for key in command.keys:
            if key.field not in command.output.model_fields:
                problems.append(f"{command.name}: key {key.field!r} is not a field of its output")
    return list(dict.fromkeys(problems))
