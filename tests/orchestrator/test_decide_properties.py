"""Invariants of the decision function over random workflows and random, hostile deliveries.

A small simulated world surrounds `decide`: services that keep one record per idempotency key
(so a repeated command has one effect, and undoing something never done leaves a tombstone that
refuses it later), a network that loses, delays, reorders and duplicates commands and replies
(even after the process ended), a clock that fires timers, and an operator who unblocks what
waits for one. Whatever happens:

* the process ends completed, compensated or cancelled, or waits for an operator;
* a step never starts before its dependencies succeeded (or were skipped);
* nothing is left done on a process that was compensated or cancelled (unless an operator
  marked that compensation done by hand), nothing is undone on a completed one, and nothing is
  undone twice;
* replaying the history gives the state (`replay(history) == snapshot`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_statistic
from hypothesis import strategies as st

from orchestrator.engine.decide import (
    ActionNotAllowed,
    check_operator_action,
    due_timer_events,
    stays_on_terminate,
)
from orchestrator.engine.types import (
    ACTION,
    COMPENSATION,
    Command,
    Definition,
    Event,
    EventType,
    RetryPolicy,
    StepSpec,
)
from orchestrator.status import OnExhausted, ProcessStatus, StepPhase, StepStatus
from tests.orchestrator.harness import Harness


@st.composite
def definitions(draw: st.DrawFn) -> Definition:
    count = draw(st.integers(1, 6))
    steps = []
    for i in range(count):
        deps = tuple(
            sorted(draw(st.sets(st.sampled_from([f"s{j}" for j in range(i)]), max_size=3)) if i else ())
        )
        steps.append(
            StepSpec(
                key=f"s{i}",
                command=f"svc{i}.do",
                compensation=draw(st.sampled_from([None, f"svc{i}.undo", f"svc{i}.undo"])),
                depends_on=deps,
                retry=RetryPolicy(
                    max_attempts=draw(st.integers(1, 3)), initial_delay=1, multiplier=2, max_delay=8
                ),
                timeout=draw(st.sampled_from([5.0, 30.0])),
                on_exhausted=draw(st.sampled_from(list(OnExhausted))),
            )
        )
    for i in range(draw(st.integers(0, 2))):
        steps.append(
            StepSpec(
                key=f"a{i}",
                command=f"notify{i}.send",
                depends_on=(f"a{i - 1}",) if i else (),
                retry=RetryPolicy(max_attempts=2, initial_delay=1),
                timeout=10.0,
                phase=StepPhase.AFTER_COMPENSATION,
            )
        )
    return Definition(name="random", version=1, steps=tuple(steps))


@dataclass
class Record:
    """What one service did for one idempotency key."""

    outcome: str | None = None  # "done", "refused" (business failure) or "tombstone"
    undone: int = 0  # how many times the effect was reversed (must never exceed 1)
    by_hand: bool = False  # an operator marked its compensation done: theirs to answer for


@dataclass
class World:
    harness: Harness
    records: dict[str, Record] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)  # sent, not yet taken by a service
    served: list[Command] = field(default_factory=list)  # taken by a service at least once
    replies: list[Event] = field(default_factory=list)  # in the network, not yet delivered
    delivered: list[Event] = field(default_factory=list)
    ids: int = 0

    def next_id(self) -> str:
        self.ids += 1
        return f"w{self.ids}"

    def feed(self, event: Event) -> None:
        h = self.harness
        decision = h.feed(event)
        for command in decision.commands:
            if command.kind == ACTION:
                spec = h.definition.step(command.step)
                for dep in spec.depends_on:
                    assert h.state.steps[dep].status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED), (
                        f"{command.step} started before {dep} was done"
                    )
        self.commands.extend(decision.commands)

    def serve(self, command: Command, outcome: str, reply_lost: bool) -> None:
        """A service takes `command`; `outcome` is what happens if it has not decided already."""
        self.served.append(command)
        record = self.records.setdefault(command.step, Record())
        if command.kind == ACTION:
            if record.outcome is None and outcome in ("done", "refused"):
                record.outcome = outcome
            if record.outcome == "done":
                reply: tuple[str, dict[str, Any]] = (
                    EventType.STEP_SUCCEEDED,
                    {"output": {"ref": command.step}},
                )
            elif record.outcome in ("refused", "tombstone"):
                reply = (EventType.STEP_FAILED, {"error": "refused", "business": True})
            else:
                reply = (EventType.STEP_FAILED, {"error": "technical"})
        else:
            if outcome == "technical":
                reply = (EventType.COMPENSATION_FAILED, {"error": "technical"})
            else:
                if record.outcome == "done" and not record.undone:
                    record.undone += 1
                elif record.outcome is None:
                    record.outcome = "tombstone"
                reply = (EventType.COMPENSATION_SUCCEEDED, {"output": {}})
        if not reply_lost:
            self.replies.append(
                Event(
                    type=reply[0],
                    at=self.harness.now,
                    message_id=self.next_id(),
                    step=command.step,
                    attempt=command.attempt,
                    payload=reply[1],
                )
            )


def operator_moves(h: Harness) -> list[tuple[str, str | None]]:
    moves: list[tuple[str, str | None]] = []
    for event_type in (EventType.OPERATOR_CANCELLED, EventType.OPERATOR_COMPENSATED):
        moves.append((event_type, None))
    for key in h.state.steps:
        moves += [(EventType.OPERATOR_RETRIED, key), (EventType.OPERATOR_SKIPPED, key)]
    allowed = []
    for event_type, step in moves:
        try:
            check_operator_action(h.definition, h.state, event_type, step)
        except ActionNotAllowed:
            continue
        allowed.append((event_type, step))
    return allowed


# DECIDE_EXAMPLES=20000 for a longer hunt than the suite's default.
@settings(
    max_examples=int(os.environ.get("DECIDE_EXAMPLES", 400)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(definition=definitions(), data=st.data())
def test_every_process_ends_safely_whatever_the_network_does(
    definition: Definition, data: st.DataObject
) -> None:
    h = Harness(definition)
    world = World(h)
    world.feed(Event(type=EventType.PROCESS_STARTED, at=h.now, message_id="start", payload={"input": {}}))
    hostile_moves = data.draw(st.integers(0, 60), label="hostile moves")
    for move_number in range(400):
        if h.state.status in ProcessStatus.terminal():
            break
        calm = move_number >= hostile_moves  # after a while the world behaves, so it can finish
        choices = []
        if world.commands:
            choices.append("serve")
        if world.replies:
            choices.append("deliver")
        if world.delivered and not calm:
            choices.append("duplicate")
        if world.served and not calm:
            choices.append("redeliver")
        if h.state.next_wake_up() is not None and (not calm or not (world.commands or world.replies)):
            choices.append("wait")
        if h.state.status == ProcessStatus.WAITING and not world.commands and not world.replies:
            choices.append("operator")
        if not calm and data.draw(st.integers(0, 15), label="operator cancels now?") == 0:
            choices.append("cancel")
        if not choices:
            break
        choice = data.draw(st.sampled_from(choices), label="move")
        if choice == "serve":
            index = data.draw(st.integers(0, len(world.commands) - 1)) if not calm else 0
            command = world.commands.pop(index)
            if calm:
                outcome, lost = "done", False
            else:
                outcome = data.draw(st.sampled_from(["done", "done", "technical", "refused", "nothing"]))
                lost = data.draw(st.booleans())
                if command.kind == COMPENSATION and outcome == "refused":
                    outcome = "technical"
            if outcome == "nothing":  # the command is lost before the service sees it
                continue
            world.serve(command, outcome, lost)
        elif choice == "deliver":
            index = data.draw(st.integers(0, len(world.replies) - 1)) if not calm else 0
            reply = world.replies.pop(index)
            world.delivered.append(reply)
            world.feed(Event(**{**reply.__dict__, "at": h.now}))
        elif choice == "duplicate":
            original = data.draw(st.sampled_from(world.delivered))
            world.feed(Event(**{**original.__dict__, "at": h.now, "message_id": world.next_id()}))
        elif choice == "redeliver":  # e.g. the outbox relay publishes a command a second time
            world.commands.append(data.draw(st.sampled_from(world.served)))
        elif choice == "wait":
            wake = h.state.next_wake_up()
            assert wake is not None
            h.now = max(h.now, wake) + timedelta(milliseconds=1)
            for event in due_timer_events(h.state, h.now):
                world.feed(event)
        elif choice == "operator":
            moves = operator_moves(h)
            assert moves, f"waiting for an operator who can do nothing: {h.state}"
            event_type, step = data.draw(st.sampled_from(moves), label="operator move")
            compensation_waiting = (StepStatus.COMPENSATION_FAILED, StepStatus.COMPENSATION_RETRYING)
            if (
                event_type == EventType.OPERATOR_SKIPPED
                and h.state.steps[step or ""].status in compensation_waiting
            ):
                world.records.setdefault(step or "", Record()).by_hand = True
            world.feed(Event(type=event_type, at=h.now, message_id=world.next_id(), step=step, actor="ops"))
        elif choice == "cancel":
            try:
                check_operator_action(definition, h.state, EventType.OPERATOR_CANCELLED, None)
            except ActionNotAllowed:
                continue
            world.feed(
                Event(type=EventType.OPERATOR_CANCELLED, at=h.now, message_id=world.next_id(), actor="ops")
            )

    # Worst case after the end: every command still in the network, and another copy of every
    # action ever sent, reaches its service and would succeed if the service let it.
    for command in [*world.commands, *[c for c in world.served if c.kind == ACTION]]:
        world.serve(command, "done", reply_lost=True)

    state = h.state
    note_statistic(f"ended {state.status.value}")
    note_statistic(f"{len(h.history) // 10 * 10}+ events")
    assert state.status in ProcessStatus.terminal() or state.status == ProcessStatus.WAITING, (
        f"process stuck in {state.status}"
    )
    assert h.replayed() == state
    for record in world.records.values():
        assert record.undone <= 1
    compensable = [spec for spec in definition.steps if spec.compensation]
    if state.status == ProcessStatus.COMPLETED:
        for spec in definition.phase_steps(StepPhase.MAIN):
            step_state = state.steps[spec.key]
            assert step_state.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
            record = world.records.get(spec.key, Record())
            if step_state.status == StepStatus.SUCCEEDED:  # kept: never undone
                assert record.undone == 0 and not [
                    c for c in h.sent if c.kind == COMPENSATION and c.step == spec.key
                ]
            elif (
                spec.compensation and not record.by_hand
            ):  # skipped: nothing the service did is left beside it
                assert not (record.outcome == "done" and not record.undone), (
                    f"{spec.key} skipped but left done"
                )
    if state.status in (ProcessStatus.COMPENSATED, ProcessStatus.CANCELLED):
        for spec in compensable:
            record = world.records.get(spec.key, Record())
            if not record.by_hand:
                assert not (record.outcome == "done" and not record.undone), f"{spec.key} left done"
    if state.status == ProcessStatus.WAITING:
        assert operator_moves(h), "waiting for an operator who can do nothing"


@settings(
    max_examples=int(os.environ.get("DECIDE_EXAMPLES", 400)) // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(definition=definitions(), data=st.data())
def test_after_a_terminate_nothing_is_sent_or_undone_whatever_arrives(
    definition: Definition, data: st.DataObject
) -> None:
    h = Harness(definition)
    world = World(h)
    world.feed(Event(type=EventType.PROCESS_STARTED, at=h.now, message_id="start", payload={"input": {}}))
    for _ in range(data.draw(st.integers(0, 40), label="moves before the terminate")):
        if h.state.status in ProcessStatus.terminal():
            return  # ended on its own: nothing to terminate
        if world.commands:
            command = world.commands.pop(0)
            outcome = data.draw(st.sampled_from(["done", "technical", "refused"]))
            if command.kind == COMPENSATION and outcome == "refused":
                outcome = "technical"
            world.serve(command, outcome, reply_lost=data.draw(st.booleans()))
        elif world.replies:
            world.feed(Event(**{**world.replies.pop(0).__dict__, "at": h.now}))
        elif (wake := h.state.next_wake_up()) is not None:
            h.now = max(h.now, wake) + timedelta(milliseconds=1)
            for event in due_timer_events(h.state, h.now):
                world.feed(event)
        else:
            break
    if h.state.status in ProcessStatus.terminal():
        return
    left = stays_on_terminate(definition, h.state)
    world.feed(Event(type=EventType.OPERATOR_TERMINATED, at=h.now, message_id=world.next_id(), actor="ops"))
    assert h.state.status == ProcessStatus.TERMINATED
    assert h.state.next_wake_up() is None
    sent, steps = len(h.sent), {key: st.status for key, st in h.state.steps.items()}
    # Everything still in the network arrives, twice, and a day passes.
    for command in list(world.commands):
        world.serve(command, "done", reply_lost=False)
    for reply in [*world.replies, *world.replies]:
        world.feed(Event(**{**reply.__dict__, "at": h.now, "message_id": world.next_id()}))
    h.now += timedelta(days=1)
    assert due_timer_events(h.state, h.now) == []
    assert len(h.sent) == sent, "a terminated process sent a command"
    assert {key: st.status for key, st in h.state.steps.items()} == steps
    assert h.state.status == ProcessStatus.TERMINATED
    assert h.replayed() == h.state
    # What it left in place is what a cancel would have had to undo (the preview names it).
    for spec in definition.steps:
        record = world.records.get(spec.key)
        if spec.compensation and record is not None and record.outcome == "done" and not record.undone:
            step_state = h.state.steps[spec.key]
            if step_state.status != StepStatus.SKIPPED:
                assert spec.key in [key for key, _ in left], f"{spec.key} left done but not named"
