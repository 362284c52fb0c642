"""Reads other parts of the project ask of the engine."""

from __future__ import annotations

import uuid

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


def command_refusal(*, process_id: uuid.UUID | str, step: str, kind: str) -> str:
    """Why a service must not carry out this command now, or "" when it may (ProcessNotFound
    when there is no such process).

    A message can come back long after it was sent (a killed worker's message is delivered again
    after the broker's redelivery window): by then its process may have ended, or an operator may
    have undone the step by hand. One indexed read of the process's status and of that step's.
    """
    row = (
        ProcessInstance.objects.filter(pk=process_id)
        .annotate(step_status=KeyTextTransform("status", KeyTransform(step, KeyTransform("steps", "state"))))
        .values_list("status", "step_status")
        .first()
    )
    if row is None:
        raise ProcessNotFound(f"no process {process_id}")
    status, step_status = row
    if status in ProcessStatus.terminal():
        return f"the process has ended ({status})"
    if step_status is not None:
        settled = _NO_MORE_ACTIONS if kind == ACTION else _NO_MORE_UNDOS
        if step_status in settled:
            return f"step {step} is {StepStatus(step_status).label.lower()}"
    return ""
