"""Claiming the one record a service keeps per idempotency key, and small helpers for records."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connection, models

from orchestrator.messages import CommandMessage

R = TypeVar("R", bound=models.Model)


def record_claim(model: type[R], *, command: CommandMessage, fields: Callable[[], dict[str, Any]]) -> R:
    """The record of this command's key, locked: the one there is, or one made from `fields()`.

    Must run inside a transaction. One statement, an insert that on the key's conflict only locks
    the record there is (`ON CONFLICT ... DO UPDATE` of the key itself) and returns the row either
    way. Two deliveries racing on the same key meet at the unique index: the second waits for the
    first's transaction, then locks and reads the one record, so the effect happens once.
    """
    record = model(key=command.idempotency_key, process_id=command.process_id, **fields())
    columns = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(record, add=True), connection) for f in columns]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({quote('key')}) DO UPDATE SET {quote('key')} = EXCLUDED.{quote('key')} RETURNING *"
    )
    return next(iter(model._default_manager.raw(sql, values)))


def code(prefix: str, length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    """A fresh code of `length` random symbols after `prefix`: a PNR, a confirmation number."""
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def step_of(key: str) -> str:
    """The step an idempotency key ("<process id>:<step>") belongs to."""
    return key.split(":", 1)[1] if ":" in key else key
