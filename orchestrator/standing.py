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

from orchestrator.engine.types import ACTION
from orchestrator.models import ProcessInstance
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


@dataclass(frozen=True)
class CommandAsked:
    """A command a service holds, for `commands_standing`."""

    process_id: uuid.UUID
    step: str
    kind: str
    attempt: int


def commands_standing(commands: Sequence[CommandAsked]) -> list[CommandStanding | None]:
    """Whether a service may carry out each of these commands now, in their order (None for one
    whose process there is not): one read of the processes' status and steps for a whole batch."""
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


def _refusal(step: str, kind: str, status: str, step_status: str | None) -> str:
    if ProcessStatus(status).is_terminal:
        return f"the process has ended ({status})"
    if step_status is not None:
        settled = _NO_MORE_ACTIONS if kind == ACTION else _NO_MORE_UNDOS
        if step_status in settled:
            return f"step {step} is {StepStatus(step_status).label.lower()}"
    return ""
