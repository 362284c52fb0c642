"""What an operator's action will do, found by running the rules themselves on a copy.

`plan` applies the hypothetical event with `decide`, then answers every command out (those the
action sends, and those already out, unanswered) with a success, oldest first, until nothing is left
to answer: the commands the engine sends on that way, and the state it settles in. There is no
second model of the rules to drift from the first: a preview says what `decide` will do because
it is what `decide` did.

Timers do not fire on the way (the action happens now): a step waiting to retry still waits
when the plan settles, and the plan says so.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.engine.decide import decide
from orchestrator.engine.types import ACTION, COMPENSATION, Command, Definition, Event, EventType, State
from orchestrator.status import StepStatus

# A workflow answers in a few dozen replies; past this, something loops and the plan stops.
MAX_REPLIES = 500


@dataclass(frozen=True)
class Plan:
    note: str  # what the engine made of the event ("not applied: ..." when it refuses it)
    commands: tuple[Command, ...]  # every command sent, in order, assuming each succeeds
    state: State  # where the process settles then
    complete: bool = True  # False when the plan stopped at MAX_REPLIES


def plan(definition: Definition, state: State, event: Event) -> Plan:
    """Fold `event`, then a success for each command out, into `state` (a copy: `decide` is pure)."""
    decision = decide(definition, state, event)
    sent = list(decision.commands)
    # What was out before the event, then what the event sent: oldest first, as they will answer.
    to_answer: deque[Command] = deque([*unanswered(definition, state), *decision.commands])
    current = decision.state
    replies = 0
    while to_answer and replies < MAX_REPLIES:
        command = to_answer.popleft()
        replies += 1
        following = decide(definition, current, success_of(command, event))
        current = following.state
        sent.extend(following.commands)
        to_answer.extend(following.commands)
    return Plan(decision.note, tuple(sent), current, complete=not to_answer)


def unanswered(definition: Definition, state: State) -> list[Command]:
    """The commands out now whose answer the state waits for (running steps, running undos),
    as stand-ins carrying what a reply needs: step, kind and attempt. A wait step sent nothing:
    what it waits for is not assumed to come."""
    out = []
    for key, st in state.steps.items():
        if st.status == StepStatus.RUNNING and definition.step(key).wait is None:
            out.append(_stand_in(state, key, ACTION, st.attempt))
        elif st.status == StepStatus.COMPENSATING:
            out.append(_stand_in(state, key, COMPENSATION, st.comp_attempt))
    return out


def _stand_in(state: State, step: str, kind: str, attempt: int) -> Command:
    return Command(
        message_id=f"{state.process_id}:{step}:{kind}:{attempt}",
        name="",
        step=step,
        kind=kind,
        attempt=attempt,
        idempotency_key="",
        payload={},
    )


def success_of(command: Command, event: Event) -> Event:
    """The success reply to `command`, as a service would send it (with no output)."""
    return Event(
        type=EventType.STEP_SUCCEEDED if command.kind == ACTION else EventType.COMPENSATION_SUCCEEDED,
        at=event.at,
        message_id=f"preview:{command.message_id}",
        step=command.step,
        attempt=command.attempt,
        payload={"output": {}},
    )


def sent_names(commands: Iterable[Command]) -> list[tuple[str, str]]:
    """(command, step) of each command, in order: how previews and tests compare plans."""
    return [(command.name, command.step) for command in commands]
