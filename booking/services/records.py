"""Claiming the one record a service keeps per idempotency key, and small helpers for records."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models

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


def code(prefix: str, length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    """A fresh code of `length` random symbols after `prefix`: a PNR, a confirmation number."""
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def step_of(key: str) -> str:
    """The step an idempotency key ("<process id>:<step>") belongs to."""
    return key.split(":", 1)[1] if ":" in key else key
