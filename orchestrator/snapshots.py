"""The columns of a process row that follow its state, computed in one place.

A transition, a batch of transitions, a rehearsal and the history seeder all write them; each
takes them from `snapshot_columns`, so that a column added here is written by all of them.
"""

from __future__ import annotations

from typing import Any

from orchestrator.engine.codec import state_to_json
from orchestrator.engine.summary import active_steps, any_in_doubt, max_attempt, retrying_attempt
from orchestrator.engine.types import State

# Each column, with the cast a VALUES list needs in PostgreSQL (orchestrator.processes).
SNAPSHOT_COLUMNS: dict[str, str] = {
    "state": "::jsonb",
    "status": "",
    "context": "::jsonb",
    "seq": "::integer",
    "wake_at": "::timestamptz",
    "ended_at": "::timestamptz",
    "active_steps": "",
    "max_attempt": "::integer",
    "in_doubt": "::boolean",
    "retrying_attempt": "::integer",
}


def snapshot_columns(state: State) -> dict[str, Any]:
    """The row's values for `state`: the snapshot itself and the summaries the lists filter on."""
    at_work = active_steps(state)
    return {
        "state": state_to_json(state),
        "status": state.status.value,
        "context": dict(state.context),
        "seq": state.seq,
        "wake_at": state.next_wake_up(),
        "ended_at": state.ended_at,
        "active_steps": f",{','.join(at_work)}," if at_work else "",
        "max_attempt": max_attempt(state),
        "in_doubt": any_in_doubt(state),
        "retrying_attempt": retrying_attempt(state),
    }
