"""Plain readings of a state, for lists, filters and the operator's retry (pure, like decide)."""

from __future__ import annotations

from orchestrator.engine.decide import COMPENSATION_IN_PROGRESS
from orchestrator.engine.types import Definition, State, StepSpec, WaitKind
from orchestrator.status import ProcessStatus, StepStatus

AT_WORK = frozenset({StepStatus.RUNNING, StepStatus.RETRYING}) | COMPENSATION_IN_PROGRESS


def active_steps(state: State) -> list[str]:
    """Steps being worked on or waiting for someone: running, retrying, failed for an operator."""
    return [
        key
        for key, st in state.steps.items()
        if st.status in AT_WORK
        or (st.status == StepStatus.FAILED and st.awaiting_operator)
        or (st.status == StepStatus.PENDING and st.attempt > 0)
    ]


def max_attempt(state: State) -> int:
    return max((max(st.attempt, st.comp_attempt) for st in state.steps.values()), default=0)


def any_in_doubt(state: State) -> bool:
    return any(
        st.in_doubt and st.status not in (StepStatus.SUCCEEDED, StepStatus.COMPENSATED)
        for st in state.steps.values()
    )


def retry_target(definition: Definition, state: State) -> str | None:
    """The step "retry this process" retries: the first waiting for an operator, else one in backoff."""
    for spec in definition.steps:
        st = state.steps[spec.key]
        if (
            st.status == StepStatus.FAILED and st.awaiting_operator
        ) or st.status == StepStatus.COMPENSATION_FAILED:
            return spec.key
    for spec in definition.steps:
        if state.steps[spec.key].status in (StepStatus.RETRYING, StepStatus.COMPENSATION_RETRYING):
            return spec.key
    return None


def retrying_attempt(state: State) -> int:
    """The attempt a running process's failing step has reached while it waits for its retry
    (the highest, when several do), 0 when no step of a running process is backing off."""
    if state.status != ProcessStatus.RUNNING or state.paused:
        return 0
    return max(
        (st.attempt - st.budget_from for st in state.steps.values() if st.status == StepStatus.RETRYING),
        default=0,
    )


def wait_words(spec: StepSpec) -> str:
    """What a wait step waits for, in words: "waits for payment_confirmed (fails on ...)"."""
    wait = spec.wait
    assert wait is not None
    if wait.kind == WaitKind.SLEEP:
        return f"sleeps {wait.seconds:g} s"
    if wait.kind == WaitKind.UNTIL:
        offset = f" {wait.offset:+g} s" if wait.offset else ""
        return f"waits until the time at {wait.until}{offset}"
    words = f"waits up to {spec.timeout:g} s for {' or '.join(wait.signals) or 'nothing'}"
    if wait.fail_on:
        words += f" (fails on {' or '.join(wait.fail_on)})"
    return words


def step_does(spec: StepSpec) -> str:
    """What a step does, in a few words: its command, or what it waits for (a wait step has none)."""
    return spec.command if spec.wait is None else wait_words(spec)
