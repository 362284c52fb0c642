"""The replay guard: histories recorded through the database shell still fold, with today's
`decide`, to the snapshot that was stored and to the commands that were sent.

A process's snapshot is trusted only because it is the fold of its history: the dashboard
replays histories to show past states, and a process recorded under other rules must not
silently fold to something else. So any change of the rules that alters a recorded history's
outcome must come with a raised RULES_VERSION and re-recorded fixtures
(`python -m tests.orchestrator.record_histories`, see that module).

Pure: the fixtures are files, the fold is `decide`; no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.codec import state_to_json
from orchestrator.engine.decide import decide, initial_state
from orchestrator.engine.types import RULES_VERSION, Command, EventType, State
from tests.orchestrator.record_histories import FOLDER, Recorded, fixture_paths, fixture_read

FIXTURES = fixture_paths()
RE_RECORD = (
    "If you changed the rules on purpose, raise RULES_VERSION (orchestrator/engine/types.py) and "
    "re-record with `python -m tests.orchestrator.record_histories`."
)
# What the recorded histories must exercise between them, so that the guard watches every rule
# a stored history depends on, not only the happy path.
COVERED_EVENTS = {
    EventType.STEP_SUCCEEDED,
    EventType.STEP_FAILED,
    EventType.COMPENSATION_SUCCEEDED,
    EventType.STEP_TIMED_OUT,
    EventType.STEP_RETRY_DUE,
    EventType.OPERATOR_RETRIED,
    EventType.OPERATOR_SKIPPED,
    EventType.OPERATOR_CANCELLED,
    EventType.OPERATOR_PAUSED,
    EventType.OPERATOR_RESUMED,
}


@dataclass(frozen=True)
class Fold:
    state: State
    commands: list[Command]  # every command emitted on the way, in order
    states: dict[int, dict[str, Any]]  # the state after each event, as stored, by seq


def fold(recorded: Recorded) -> Fold:
    """The history folded from the start with `decide`."""
    state = initial_state(recorded.process_id, recorded.definition)
    commands: list[Command] = []
    states = {}
    for event in recorded.events:
        decision = decide(recorded.definition, state, event)
        state = decision.state
        commands.extend(decision.commands)
        states[state.seq] = state_to_json(state)
    return Fold(state, commands, states)


def command_json(command: Command) -> dict[str, Any]:
    """A command as the recorder keeps it from the outbox."""
    return {
        "message_id": command.message_id,
        "name": command.name,
        "step": command.step,
        "kind": command.kind,
        "attempt": command.attempt,
        "idempotency_key": command.idempotency_key,
        "payload": command.payload,
    }


def differences(recorded: dict[str, Any], replayed: dict[str, Any], where: str = "") -> list[str]:
    """Where two snapshots differ, as paths: a failure should name the field, not dump two dicts."""
    found = []
    for key in sorted(set(recorded) | set(replayed)):
        path = f"{where}.{key}" if where else key
        old, new = recorded.get(key, "<missing>"), replayed.get(key, "<missing>")
        if isinstance(old, dict) and isinstance(new, dict):
            found += differences(old, new, path)
        elif old != new:
            found.append(f"{path}: recorded {old!r}, replayed {new!r}")
    return found


@pytest.fixture(params=FIXTURES, ids=[path.stem for path in FIXTURES])
def recorded(request: pytest.FixtureRequest) -> Recorded:
    path: Path = request.param
    return fixture_read(path)


def test_there_are_enough_recorded_histories() -> None:
    assert len(FIXTURES) >= 5, f"only {len(FIXTURES)} fixtures in {FOLDER}. {RE_RECORD}"


def test_the_histories_cover_every_kind_of_event_a_rule_reacts_to() -> None:
    seen = {event.type for path in FIXTURES for event in fixture_read(path).events}
    missing = COVERED_EVENTS - seen
    assert not missing, f"no recorded history has {sorted(missing)}; add a scenario to the recorder"


def test_every_snapshot_was_made_under_the_current_rules(recorded: Recorded) -> None:
    rules = recorded.snapshot.get("rules")
    assert rules == RULES_VERSION, (
        f"{recorded.name} was recorded under rules {rules}, the engine applies rules {RULES_VERSION}. "
        + RE_RECORD
    )


def test_the_history_folds_to_the_recorded_snapshot(recorded: Recorded) -> None:
    replayed = state_to_json(fold(recorded).state)
    assert replayed == recorded.snapshot, (
        f"{recorded.name} no longer folds to its recorded snapshot:\n  "
        + "\n  ".join(differences(recorded.snapshot, replayed))
        + f"\n{RE_RECORD}"
    )


def test_the_history_passes_through_every_recorded_snapshot(recorded: Recorded) -> None:
    states = fold(recorded).states
    assert recorded.snapshots, f"{recorded.name} keeps no snapshots on the way. {RE_RECORD}"
    for snapshot in recorded.snapshots:
        seq = snapshot["seq"]
        assert states.get(seq) == snapshot, (
            f"{recorded.name} differs after event {seq}:\n  "
            + "\n  ".join(differences(snapshot, states.get(seq, {})))
            + f"\n{RE_RECORD}"
        )


def test_the_history_emits_the_recorded_commands_in_order(recorded: Recorded) -> None:
    replayed = [command_json(command) for command in fold(recorded).commands]
    sent = [(c["message_id"], c["name"]) for c in recorded.commands]
    assert [(c["message_id"], c["name"]) for c in replayed] == sent, (
        f"{recorded.name} emits other commands than its outbox holds. {RE_RECORD}"
    )
    # Same commands, and what they carry to the services too (input, context, params, key).
    assert replayed == recorded.commands, f"{recorded.name}: a command carries other data. {RE_RECORD}"
