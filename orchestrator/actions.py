"""The operator actions: one table, read by the engine, the dashboard, the admin and the API.

Each action is an event in the process's history, needs its own permission (checked inside
`operator_act`, so no entry point can forget it), and says whether it is about one step.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.engine.decide import ActionNotAllowed
from orchestrator.engine.types import EventType


class ActionName(enum.StrEnum):
    RETRY = "retry"
    SKIP = "skip"
    PAUSE = "pause"
    RESUME = "resume"
    COMPENSATE = "compensate"
    CANCEL = "cancel"
    TERMINATE = "terminate"


class StepUse(enum.Enum):
    NONE = "none"  # about the whole process
    OPTIONAL = "optional"  # offered per step; without one, the engine picks the step that waits
    REQUIRED = "required"


@dataclass(frozen=True)
class OperatorAction:
    name: ActionName
    label: str  # on the button
    event: str  # the EventType recorded in the history
    permission: str
    step: StepUse
    # Cannot be taken back (it undoes what services did, or ends the process): asks twice as loudly.
    destructive: bool = False
    # A plain retry asks the service again what it was asked already: a reason helps the history,
    # but an operator fixing a failing process from the list need not write one.
    needs_reason: bool = True

    @property
    def per_step(self) -> bool:
        return self.step != StepUse.NONE


ACTIONS: dict[str, OperatorAction] = {
    action.name: action
    for action in (
        OperatorAction(
            ActionName.RETRY,
            "Retry now",
            EventType.OPERATOR_RETRIED,
            "orchestrator.retry_step",
            StepUse.OPTIONAL,
            needs_reason=False,
        ),
        OperatorAction(
            ActionName.SKIP, "Skip…", EventType.OPERATOR_SKIPPED, "orchestrator.skip_step", StepUse.REQUIRED
        ),
        OperatorAction(
            ActionName.PAUSE, "Pause", EventType.OPERATOR_PAUSED, "orchestrator.pause_process", StepUse.NONE
        ),
        OperatorAction(
            ActionName.RESUME,
            "Resume",
            EventType.OPERATOR_RESUMED,
            "orchestrator.pause_process",
            StepUse.NONE,
        ),
        OperatorAction(
            ActionName.COMPENSATE,
            "Compensate now",
            EventType.OPERATOR_COMPENSATED,
            "orchestrator.compensate_process",
            StepUse.NONE,
            destructive=True,
        ),
        OperatorAction(
            ActionName.CANCEL,
            "Cancel process",
            EventType.OPERATOR_CANCELLED,
            "orchestrator.cancel_process",
            StepUse.NONE,
            destructive=True,
        ),
        # Ends the process at once and undoes nothing: a test booking, one settled by hand.
        OperatorAction(
            ActionName.TERMINATE,
            "Terminate…",
            EventType.OPERATOR_TERMINATED,
            "orchestrator.terminate_process",
            StepUse.NONE,
            destructive=True,
        ),
    )
}
# Reading processes, which every page, socket and API read about processes needs.
VIEW_PERMISSION = "orchestrator.view_processinstance"
BULK_PERMISSION = "orchestrator.bulk_act"


class Operator(Protocol):
    """Who acts: a Django user (anything with these two methods)."""

    def has_perm(self, perm: str, obj: Any = None) -> bool: ...

    def get_username(self) -> str: ...


class UnknownAction(ActionNotAllowed):
    pass


def action_get(name: str) -> OperatorAction:
    try:
        return ACTIONS[name]
    except KeyError:
        raise UnknownAction(f"unknown action {name!r}; one of {', '.join(ACTIONS)}") from None


def may_act(user: Operator, name: str) -> bool:
    return name in ACTIONS and bool(user.has_perm(ACTIONS[name].permission))
