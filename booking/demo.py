"""The demo workflows: the classic sequential trip booking and a parallel variant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrator.definitions import definition_save
from orchestrator.engine.types import RetryPolicy, StepSpec
from orchestrator.models import WorkflowDefinition
from orchestrator.status import OnExhausted, StepPhase

# Eight attempts at 20% technical failures leave about three in a million steps to an operator.
RETRY = RetryPolicy(max_attempts=8, initial_delay=0.5, multiplier=2.0, max_delay=5.0, jitter=0.2)
TIMEOUT = 10.0
# The hotel holds the room for half an hour: a trip not booked (or undone) by then needs a look.
DEADLINE = timedelta(minutes=30)
DEADLINE_REASON = "the hotel hold expires 30 minutes after the start"


def trip_steps(*, parallel: bool, timeout: float = TIMEOUT) -> list[StepSpec]:
    """The trip's steps; `parallel` books flight and hotel at the same time."""

    def step(
        key: str, command: str, compensation: str | None, deps: tuple[str, ...], **extra: Any
    ) -> StepSpec:
        return StepSpec(key, command, compensation, deps, retry=RETRY, timeout=timeout, **extra)

    undo_on_failure = {"on_exhausted": OnExhausted.COMPENSATE}
    return [
        step("payment", "payments.charge", "payments.refund", (), **undo_on_failure),
        step("flight", "flights.book", "flights.cancel", ("payment",), **undo_on_failure),
        step(
            "hotel",
            "hotels.book",
            "hotels.cancel",
            ("payment",) if parallel else ("flight",),
            **undo_on_failure,
        ),
        step(
            "notify",
            "notifications.send",
            None,
            ("flight", "hotel") if parallel else ("hotel",),
            params={"template": "confirmed"},
        ),
        step(
            "notify_cancelled",
            "notifications.send",
            None,
            (),
            phase=StepPhase.AFTER_COMPENSATION,
            params={"template": "cancelled"},
        ),
    ]


DEMO_WORKFLOWS = {
    "trip-booking": (
        "Payment, then flight, then hotel, then the confirmation e-mail. On failure: refund, cancel "
        "what was booked, newest first, and tell the customer.",
        False,
    ),
    "trip-booking-parallel": (
        "Payment, then flight and hotel at the same time, joined before the confirmation e-mail.",
        True,
    ),
}


def demo_workflows_load() -> list[str]:
    """Create version 1 of each demo workflow unless it exists; returns what was created."""
    created = []
    for name, (description, parallel) in DEMO_WORKFLOWS.items():
        if WorkflowDefinition.objects.filter(name=name).exists():
            continue
        definition_save(
            name=name,
            version=1,
            description=description,
            steps=trip_steps(parallel=parallel),
            activate=True,
            deadline=DEADLINE,
            deadline_reason=DEADLINE_REASON,
        )
        created.append(name)
    return created
