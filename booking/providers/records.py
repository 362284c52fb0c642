"""Claiming the one record a service keeps per idempotency key."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.db import models
from pydantic import ValidationError

from booking.commands import TripInput
from booking.providers.runner import Result
from orchestrator.messages import CommandMessage

R = TypeVar("R", bound=models.Model)


def record_claim(model: type[R], *, command: CommandMessage, fields: Callable[[], dict[str, Any]]) -> R:
    """The record of this command's key, locked: the one there is, or one made from `fields()`.

    Must run inside a transaction. An insert that does nothing when the key has a record, then a
    locking read: two statements, and no savepoint. Two deliveries racing on the same key meet at
    the unique index: the second insert waits for the first's transaction and does nothing, and
    both read the one record, so the effect happens once.
    """
    key = command.idempotency_key
    manager = model._default_manager
    manager.bulk_create([model(key=key, process_id=command.process_id, **fields())], ignore_conflicts=True)
    return manager.select_for_update().get(key=key)


def trip_input(command: CommandMessage) -> TripInput | Result:
    """The trip the command is about, or a refusal when the process input cannot be one."""
    try:
        return TripInput.model_validate(command.payload.get("input", {}))
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        return Result(succeeded=False, error=f"invalid trip input ({fields})", business=True)


def code(prefix: str, length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class Effect:
    """One thing a service did under one idempotency key, as the ledger shows it.

    Each service declares how its records read as effects (`LEDGER_SOURCES` in booking.ledger), so
    the ledger, the money check and the API list every service, whichever it is.
    """

    service: str
    process_id: str
    step: str
    kind: str  # "charge", "reservation" or "notification": the API groups them by kind
    what: str  # in words, for the dashboard
    undo: str = ""  # what undid it, if anything
    in_place: bool = False  # it still stands: charged and not refunded, booked and not cancelled
    undoable: bool = True  # a compensation takes this kind of effect back (an e-mail it cannot)
    charged: Decimal = Decimal("0.00")
    refunded: Decimal = Decimal("0.00")
    detail: dict[str, Any] = field(default_factory=dict)  # the API's fields for it


def step_of(key: str) -> str:
    """The step an idempotency key ("<process id>:<step>") belongs to."""
    return key.split(":", 1)[1] if ":" in key else key
