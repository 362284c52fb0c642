"""Drives the pure decision function like the engine does, keeping the history it builds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.engine.decide import decide, due_timer_events, initial_state, replay
from orchestrator.engine.types import (
    ACTION,
    COMPENSATION,
    Command,
    Decision,
    Definition,
    Event,
    EventType,
    RetryPolicy,
    State,
    StepSpec,
)
from orchestrator.status import OnExhausted, StepPhase

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def trip_definition(
    *,
    parallel: bool = False,
    max_attempts: int = 3,
    on_exhausted: OnExhausted = OnExhausted.PAUSE,
    timeout: float = 30.0,
) -> Definition:
    retry = RetryPolicy(max_attempts=max_attempts, initial_delay=1.0, multiplier=2.0, max_delay=10.0)

    def step(key: str, command: str, compensation: str | None, deps: tuple[str, ...], **kw: Any) -> StepSpec:
        return StepSpec(
            key=key,
            command=command,
            compensation=compensation,
            depends_on=deps,
            retry=retry,
            timeout=timeout,
            on_exhausted=on_exhausted,
            **kw,
        )

    hotel_deps = ("payment",) if parallel else ("flight",)
    return Definition(
        name="trip",
        version=1,
        steps=(
            step("payment", "payments.charge", "payments.refund", ()),
            step("flight", "flights.book", "flights.cancel", ("payment",)),
            step("hotel", "hotels.book", "hotels.cancel", hotel_deps),
            step("notify", "notifications.send", None, ("flight", "hotel") if parallel else ("hotel",)),
            step("notify_cancelled", "notifications.send", None, (), phase=StepPhase.AFTER_COMPENSATION),
        ),
    )


class Harness:
    def __init__(self, definition: Definition, process_id: str = "p1") -> None:
        self.definition = definition
        self.state: State = initial_state(process_id, definition)
        self.now = T0
        self.history: list[Event] = []
        self.sent: list[Command] = []
        self.notes: list[str] = []
        self._ids = 0

    # --- feeding events ---
    def feed(self, event: Event) -> Decision:
        decision = decide(self.definition, self.state, event)
        self.state = decision.state
        self.history.append(event)
        self.sent.extend(decision.commands)
        self.notes.append(decision.note)
        return decision

    def _event(
        self, type_: str, step: str | None = None, attempt: int | None = None, **payload: Any
    ) -> Event:
        self._ids += 1
        return Event(
            type=type_, at=self.now, message_id=f"m{self._ids}", step=step, attempt=attempt, payload=payload
        )

    def start(self, **input_: Any) -> list[Command]:
        return list(
            self.feed(self._event(EventType.PROCESS_STARTED, input=input_ or {"amount": "420.00"})).commands
        )

    def last_attempt(self, step: str, kind: str = ACTION) -> int:
        st = self.state.steps[step]
        return st.attempt if kind == ACTION else st.comp_attempt

    def succeed(self, step: str, attempt: int | None = None, **output: Any) -> list[Command]:
        attempt = attempt or self.last_attempt(step)
        return list(self.feed(self._event(EventType.STEP_SUCCEEDED, step, attempt, output=output)).commands)

    def fail(self, step: str, *, business: bool = False, attempt: int | None = None) -> list[Command]:
        attempt = attempt or self.last_attempt(step)
        event = self._event(EventType.STEP_FAILED, step, attempt, error="boom", business=business)
        return list(self.feed(event).commands)

    def compensated(self, step: str, attempt: int | None = None) -> list[Command]:
        attempt = attempt or self.last_attempt(step, COMPENSATION)
        return list(
            self.feed(self._event(EventType.COMPENSATION_SUCCEEDED, step, attempt, output={})).commands
        )

    def compensation_fails(self, step: str, *, business: bool = False) -> list[Command]:
        attempt = self.last_attempt(step, COMPENSATION)
        event = self._event(EventType.COMPENSATION_FAILED, step, attempt, error="down", business=business)
        return list(self.feed(event).commands)

    def operator(self, type_: str, step: str | None = None, **payload: Any) -> Decision:
        self._ids += 1
        event = Event(
            type=type_,
            at=self.now,
            message_id=f"m{self._ids}",
            step=step,
            payload=payload,
            actor="ops",
            reason="test",
        )
        return self.feed(event)

    def advance(self, seconds: float) -> list[Command]:
        """Let time pass, firing every timer that falls due on the way, in order."""
        end = self.now + timedelta(seconds=seconds)
        commands: list[Command] = []
        while True:
            wake = self.state.next_wake_up()
            if wake is None or wake > end:
                break
            self.now = max(self.now, wake)
            for event in due_timer_events(self.state, self.now):
                commands += self.feed(event).commands
        self.now = end
        return commands

    # --- reading ---
    def status(self, step: str | None = None) -> str:
        return (self.state.steps[step].status if step else self.state.status).value

    def commands_named(self) -> list[str]:
        return [c.name for c in self.sent]

    def replayed(self) -> State:
        return replay(self.definition, self.state.process_id, self.history)
