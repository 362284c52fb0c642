"""The demo workflows: the classic sequential trip booking and a parallel variant."""

from __future__ import annotations

from orchestrator.definitions import definition_save
from orchestrator.engine.types import RetryPolicy, StepSpec
from orchestrator.models import WorkflowDefinition
from orchestrator.status import OnExhausted, StepPhase

# Eight attempts at 20% technical failures leave about three in a million steps to an operator.
RETRY = RetryPolicy(max_attempts=8, initial_delay=0.5, multiplier=2.0, max_delay=5.0, jitter=0.2)
TIMEOUT = 10.0


def _step(
    key: str, command: str, compensation: str | None, deps: tuple[str, ...], **extra: object
) -> StepSpec:
    return StepSpec(
        key=key,
        command=command,
        compensation=compensation,
        depends_on=deps,
        retry=RETRY,
        timeout=TIMEOUT,
        on_exhausted=extra.pop("on_exhausted", OnExhausted.COMPENSATE),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def trip_steps(*, parallel: bool) -> list[StepSpec]:
    return [
        _step("payment", "payments.charge", "payments.refund", ()),
        _step("flight", "flights.book", "flights.cancel", ("payment",)),
        _step("hotel", "hotels.book", "hotels.cancel", ("payment",) if parallel else ("flight",)),
        _step(
            "notify",
            "notifications.send",
            None,
            ("flight", "hotel") if parallel else ("hotel",),
            on_exhausted=OnExhausted.PAUSE,
            params={"template": "confirmed"},
        ),
        _step(
            "notify_cancelled",
            "notifications.send",
            None,
            (),
            on_exhausted=OnExhausted.PAUSE,
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
            name=name, version=1, description=description, steps=trip_steps(parallel=parallel), activate=True
        )
        created.append(name)
    return created
