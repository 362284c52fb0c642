"""A process driven through the engine's rules in memory: no database, no clock, no broker.

What a transition would store — the history rows with their notes, the snapshot, the summary
columns the lists filter on — computed exactly as `processes.py` computes them, for callers that
need realistic process data without running the services (the `seed_history` command stamps
such rehearsed histories out by the million).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.engine.codec import state_to_json
from orchestrator.engine.decide import decide, due_timer_events, initial_state
from orchestrator.engine.types import Command, Definition, Event, State
from orchestrator.snapshots import snapshot_columns


@dataclass(frozen=True)
class Rehearsed:
    """One event of a rehearsed history, with what the engine made of it."""

    seq: int
    event: Event
    note: str


class Rehearsal:
    """Fold events one at a time, as the shell does under a process's lock."""

    def __init__(self, definition: Definition, process_id: str) -> None:
        self.definition = definition
        self.state: State = initial_state(process_id, definition)
        self.history: list[Rehearsed] = []

    def apply(self, event: Event) -> list[Command]:
        """Apply one event; returns the commands the engine would send."""
        decision = decide(self.definition, self.state, event)
        self.state = decision.state
        self.history.append(Rehearsed(self.state.seq, event, decision.note))
        return list(decision.commands)

    def due_timers(self, now: datetime) -> list[Event]:
        """The timer events the tick would fire at `now`."""
        return due_timer_events(self.state, now)

    def next_wake_up(self) -> datetime | None:
        return self.state.next_wake_up()

    def snapshot(self) -> dict[str, Any]:
        """The state as the snapshot column stores it."""
        return state_to_json(self.state)

    def columns(self) -> dict[str, Any]:
        """The process row's columns, as a transition writes them."""
        return snapshot_columns(self.state)
