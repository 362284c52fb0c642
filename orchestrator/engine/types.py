"""Plain data the decision function works on: definitions, state, events, commands.

Nothing here touches the database, the clock or the network. Times come in with the events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.status import OnExhausted, ProcessStatus, StepPhase, StepStatus

ACTION = "action"
COMPENSATION = "compensation"

# The version of the rules `decide` applies, stamped in every snapshot. Raise it with any change
# that makes a recorded history fold to a different state or different commands (the replay
# guard, tests/orchestrator/test_replay_guard.py, fails until the recorded histories agree):
# replaying a process recorded under other rules then says so instead of silently differing.
RULES_VERSION = 1


class EventType:
    """The kinds of event in a process's history."""

    PROCESS_STARTED = "process.started"
    # Replies from services, for the step's action or its compensation.
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    COMPENSATION_SUCCEEDED = "compensation.succeeded"
    COMPENSATION_FAILED = "compensation.failed"
    # Durable timers firing.
    STEP_TIMED_OUT = "step.timed_out"
    STEP_RETRY_DUE = "step.retry_due"
    COMPENSATION_TIMED_OUT = "compensation.timed_out"
    COMPENSATION_RETRY_DUE = "compensation.retry_due"
    # Operators (the history doubles as the audit log).
    OPERATOR_RETRIED = "operator.retried"
    OPERATOR_SKIPPED = "operator.skipped"
    OPERATOR_CANCELLED = "operator.cancelled"
    OPERATOR_COMPENSATED = "operator.compensated"
    OPERATOR_PAUSED = "operator.paused"
    OPERATOR_RESUMED = "operator.resumed"
    # Ends the process at once, without undoing anything (unlike a cancel).
    OPERATOR_TERMINATED = "operator.terminated"
    # A named event from outside (a bank's webhook, a customer's button), with its data.
    SIGNAL_RECEIVED = "signal.received"

    REPLIES = frozenset({STEP_SUCCEEDED, STEP_FAILED, COMPENSATION_SUCCEEDED, COMPENSATION_FAILED})
    TIMERS = frozenset({STEP_TIMED_OUT, STEP_RETRY_DUE, COMPENSATION_TIMED_OUT, COMPENSATION_RETRY_DUE})
    OPERATOR = frozenset(
        {
            OPERATOR_RETRIED,
            OPERATOR_SKIPPED,
            OPERATOR_CANCELLED,
            OPERATOR_COMPENSATED,
            OPERATOR_PAUSED,
            OPERATOR_RESUMED,
            OPERATOR_TERMINATED,
        }
    )
    ALL = frozenset({PROCESS_STARTED, SIGNAL_RECEIVED}) | REPLIES | TIMERS | OPERATOR


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_delay: float = 1.0  # seconds before the second attempt
    multiplier: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.0  # fraction of the delay, spread deterministically per attempt


class WaitKind(enum.StrEnum):
    SIGNAL = "signal"  # until one of the named signals arrives, or the timeout
    SLEEP = "sleep"  # for a number of seconds
    UNTIL = "until"  # until a time read from the process's data


class OnTimeout(enum.StrEnum):
    FAIL = "fail"  # the step fails for good: the process compensates
    CONTINUE = "continue"  # the step succeeds with {"timed_out": true}: the process goes on


class EarlySignal(enum.StrEnum):
    KEEP = "keep"  # a signal that comes before its wait is kept and taken when the wait begins
    REFUSE = "refuse"  # refused: only a process that waits for it now takes it


@dataclass(frozen=True)
class WaitSpec:
    """What a wait step waits for. It sends no command: it runs from when its dependencies are
    done until what it waits for happens, under a durable timer like any step's timeout."""

    kind: WaitKind
    signals: tuple[str, ...] = ()  # signal: the step succeeds when one of these arrives
    fail_on: tuple[str, ...] = ()  # signal: the step fails for good (the process compensates)
    on_timeout: OnTimeout = OnTimeout.FAIL  # signal: what the step's timeout does
    seconds: float = 0.0  # sleep: how long
    until: str = ""  # until: where the time is, "input.<path>" or "context.<step>.<path>"
    offset: float = 0.0  # until: seconds added to that time (negative: before it)

    @property
    def listens_to(self) -> tuple[str, ...]:
        return (*self.signals, *self.fail_on)


@dataclass(frozen=True)
class SignalSpec:
    """A signal a workflow takes from outside: its name, the JSON Schema of its data, and what
    becomes of it when it comes before the step that waits for it."""

    name: str
    schema: dict[str, Any] = field(default_factory=dict)
    early: EarlySignal = EarlySignal.KEEP


@dataclass(frozen=True)
class StepSpec:
    key: str
    command: str
    compensation: str | None = None
    depends_on: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0  # seconds per attempt
    on_exhausted: OnExhausted = OnExhausted.PAUSE
    phase: StepPhase = StepPhase.MAIN
    params: dict[str, Any] = field(default_factory=dict)  # fixed arguments of the command
    # The definition says, on purpose, that what this step did stays when the process compensates
    # although its command declares an undo (say, a non-refundable fee).
    keep_on_compensation: bool = False
    wait: WaitSpec | None = None  # a wait step: no command (`command` is empty)


@dataclass(frozen=True)
class Definition:
    name: str
    version: int
    steps: tuple[StepSpec, ...]
    signals: tuple[SignalSpec, ...] = ()

    def signal(self, name: str) -> SignalSpec | None:
        return next((spec for spec in self.signals if spec.name == name), None)

    def step(self, key: str) -> StepSpec:
        for spec in self.steps:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def has_step(self, key: str) -> bool:
        return any(spec.key == key for spec in self.steps)

    def phase_steps(self, phase: StepPhase) -> tuple[StepSpec, ...]:
        return tuple(spec for spec in self.steps if spec.phase == phase)


@dataclass
class StepState:
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0  # action attempts sent so far
    budget_from: int = 0  # attempts before the current retry budget (an operator retry resets it)
    in_doubt: bool = False  # an attempt timed out and no definite answer came since
    awaiting_operator: bool = False  # failed in a way only an operator can resolve
    refused: bool = False  # the service gave a final "no" (business failure): nothing to undo
    deadline_at: datetime | None = None  # the current attempt times out then
    retry_at: datetime | None = None  # the next attempt is due then
    last_error: str = ""
    output: dict[str, Any] | None = None
    # When the step last started or succeeded (State.order_counter): compensation undoes newest first.
    done_order: int | None = None
    comp_attempt: int = 0  # compensation attempts sent so far
    comp_budget_from: int = 0
    comp_output: dict[str, Any] | None = None
    # An operator's skip of a step the service was asked to do waits for the undo under the
    # step's key (so nothing the service did is left beside the operator's work): their output.
    skip_output: dict[str, Any] | None = None
    voided: bool = False  # undone under its key before being skipped: nothing left to undo


@dataclass
class State:
    process_id: str
    status: ProcessStatus
    input: dict[str, Any]
    steps: dict[str, StepState]
    context: dict[str, Any] = field(default_factory=dict)  # outputs of finished steps, by step key
    seq: int = 0  # number of events folded into this state
    order_counter: int = 0  # orders step starts and successes, finer than seq
    compensating: bool = False  # the success path was abandoned; undoing what was done
    cancel_requested: bool = False  # end as cancelled rather than compensated
    paused: bool = False
    rules: int = RULES_VERSION  # the rules this state was made under (RULES_VERSION then)
    # Signals that came before the step that waits for them (EarlySignal.KEEP), oldest first:
    # {"name", "data", "message_id"}.
    signals_kept: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime | None = None
    updated_at: datetime | None = None
    ended_at: datetime | None = None

    def next_wake_up(self) -> datetime | None:
        times = [
            t for step in self.steps.values() for t in (step.deadline_at, step.retry_at) if t is not None
        ]
        return min(times, default=None)


@dataclass(frozen=True)
class Event:
    """One entry of the history. `step`/`attempt` say which command a reply or timer is about."""

    type: str
    at: datetime
    message_id: str
    step: str | None = None
    attempt: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Command:
    """A message for a service, published through the outbox after the transition commits."""

    message_id: str
    name: str  # a declared command, e.g. "parcels.ship"
    step: str
    kind: str  # ACTION or COMPENSATION
    attempt: int
    idempotency_key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    state: State
    commands: tuple[Command, ...] = ()
    note: str = ""  # why an event changed nothing, or what it did that is worth saying
