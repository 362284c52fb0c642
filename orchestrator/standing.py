"""Whether a service may still carry out a command it took: the engine's answer, read by the
services (booking.services.runner) through this facade, never from the tables themselves.

A message can come back long after it was sent (a killed worker's message is delivered again
after the broker's redelivery window): by then its process may have ended, or an operator may
have undone the step by hand (a refusal). Or, under a backlog, the attempt timed out while it
waited in the queue and the engine sent the next one: that one will do the work, under the same
idempotency key, and doing this one too would only double the backlog.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from orchestrator.engine.types import ACTION
from orchestrator.models import ProcessInstance
from orchestrator.processes import ProcessNotFound
from orchestrator.status import ProcessStatus, StepStatus

# A step in one of these is being undone or is settled by hand: a late copy of its command must
# not act again (an operator may have undone it, or done it, by hand).
_NO_MORE_ACTIONS = frozenset(
    {
        StepStatus.COMPENSATION_PENDING,
        StepStatus.COMPENSATING,
        StepStatus.COMPENSATION_RETRYING,
        StepStatus.COMPENSATION_FAILED,
        StepStatus.COMPENSATED,
        StepStatus.SKIPPED,
    }
)
_NO_MORE_UNDOS = frozenset({StepStatus.COMPENSATED, StepStatus.SKIPPED})
_PROCESSES = ProcessInstance._meta.db_table


@dataclass(frozen=True)
class CommandStanding:
    """Whether a service may carry out a command it just took."""

    refusal: str = ""  # why it must not (tell the engine), or ""
    superseded: bool = False  # a later attempt was sent since: leave the work to that one


def command_standing(*, process_id: uuid.UUID | str, step: str, kind: str, attempt: int) -> CommandStanding:
    """Whether a service may carry out this command now (ProcessNotFound when there is no such
    process). One indexed read of the process's status and of that step's."""
    attempt_field = "attempt" if kind == ACTION else "comp_attempt"
    row = _standing_read(process_id, step, attempt_field)
    if row is None:
        raise ProcessNotFound(f"no process {process_id}")
    status, step_status, step_attempt = row
    return _standing(step, kind, attempt, status, step_status, step_attempt)


@dataclass(frozen=True)
class CommandAsked:
    """A command a service holds, for `commands_standing`."""

    process_id: uuid.UUID
    step: str
    kind: str
    attempt: int


def commands_standing(commands: Sequence[CommandAsked]) -> list[CommandStanding | None]:
    """`command_standing` of several commands in one read (None for one whose process there is
    not), in their order: what a service's batch asks."""
    ids = list({command.process_id for command in commands})
    found: dict[uuid.UUID, tuple[str, dict[str, Any]]] = {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, status, state -> 'steps' FROM {_PROCESSES} WHERE id = ANY(%s)", [ids])
            for pk, status, steps in cursor.fetchall():
                found[pk] = (status, json.loads(steps) if isinstance(steps, str | bytes) else steps or {})
    else:
        for pk, status, state in ProcessInstance.objects.filter(pk__in=ids).values_list(
            "pk", "status", "state"
        ):
            found[pk] = (status, state.get("steps", {}))
    standings: list[CommandStanding | None] = []
    for command in commands:
        if command.process_id not in found:
            standings.append(None)
            continue
        status, steps = found[command.process_id]
        step = steps.get(command.step) or {}
        attempt_field = "attempt" if command.kind == ACTION else "comp_attempt"
        standings.append(
            _standing(
                command.step,
                command.kind,
                command.attempt,
                status,
                step.get("status"),
                step.get(attempt_field),
            )
        )
    return standings


def _standing(
    step: str, kind: str, attempt: int, status: str, step_status: Any, step_attempt: Any
) -> CommandStanding:
    refusal = _refusal(step, kind, status, step_status)
    superseded = not refusal and step_attempt is not None and int(step_attempt) > attempt
    return CommandStanding(refusal, superseded)


def _standing_read(process_id: uuid.UUID | str, step: str, attempt_field: str) -> tuple[Any, ...] | None:
    """(process status, step status, step attempt) in one statement. Every command a service
    takes asks this: written as SQL, because compiling the ORM's JSON lookups cost a service more
    than the rest of its read."""
    try:
        pk = uuid.UUID(str(process_id))
    except ValueError:
        return None
    table = ProcessInstance._meta.db_table
    if connection.vendor == "postgresql":
        sql = f"SELECT status, state #>> %s, state #>> %s FROM {table} WHERE id = %s"
        params: list[Any] = [["steps", step, "status"], ["steps", step, attempt_field], pk]
    elif connection.vendor == "sqlite":
        sql = f"SELECT status, json_extract(state, %s), json_extract(state, %s) FROM {table} WHERE id = %s"
        path = "$.steps." + json.dumps(step)
        params = [f"{path}.status", f"{path}.{attempt_field}", pk.hex]
    else:  # any other database: the ORM's way
        step_json = KeyTransform(step, KeyTransform("steps", "state"))
        return (
            ProcessInstance.objects.filter(pk=pk)
            .annotate(
                step_status=KeyTextTransform("status", step_json),
                step_attempt=KeyTextTransform(attempt_field, step_json),
            )
            .values_list("status", "step_status", "step_attempt")
            .first()
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    return tuple(found) if found is not None else None


def _refusal(step: str, kind: str, status: str, step_status: str | None) -> str:
    if ProcessStatus(status).is_terminal:
        return f"the process has ended ({status})"
    if step_status is not None:
        settled = _NO_MORE_ACTIONS if kind == ACTION else _NO_MORE_UNDOS
        if step_status in settled:
            return f"step {step} is {StepStatus(step_status).label.lower()}"
    return ""
