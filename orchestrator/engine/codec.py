"""State snapshots to JSON and back (the snapshot column, the dashboard's replay)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from orchestrator.engine.types import State, StepState
from orchestrator.status import ProcessStatus, StepStatus

_STEP_TIMES = ("deadline_at", "retry_at")
_STATE_TIMES = ("started_at", "updated_at", "ended_at")
_STEP_FIELD_ORDER = [f.name for f in fields(StepState)]
_STEP_FIELDS = set(_STEP_FIELD_ORDER)
_STATE_FIELDS = [f.name for f in fields(State) if f.name != "steps"]


def _time_out(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time_in(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def state_to_json(state: State) -> dict[str, Any]:
    """The snapshot as JSON-ready data. It shares the input, context and outputs with `state`
    (written at once, never changed: `decide` works on copies); written field by field, as
    dataclasses.asdict's deep copy costs more than the rest of a transition."""
    data = {name: getattr(state, name) for name in _STATE_FIELDS}
    data["status"] = state.status.value
    data["context"] = dict(state.context)
    for name in _STATE_TIMES:
        data[name] = _time_out(getattr(state, name))
    data["steps"] = {key: _step_to_json(step) for key, step in state.steps.items()}
    if not state.signals_kept:  # snapshots of workflows without signals stay as they were
        del data["signals_kept"]
    return data


def _step_to_json(step: StepState) -> dict[str, Any]:
    out = {name: getattr(step, name) for name in _STEP_FIELD_ORDER}
    out["status"] = step.status.value
    for name in _STEP_TIMES:
        out[name] = _time_out(getattr(step, name))
    return out


def state_from_json(data: dict[str, Any]) -> State:
    steps = {}
    for key, raw in data["steps"].items():
        values = {name: value for name, value in raw.items() if name in _STEP_FIELDS}
        values["status"] = StepStatus(raw["status"])
        for name in _STEP_TIMES:
            values[name] = _time_in(raw.get(name))
        steps[key] = StepState(**values)
    return State(
        process_id=data["process_id"],
        status=ProcessStatus.read(data["status"]),
        input=data["input"],
        steps=steps,
        context=data.get("context", {}),
        seq=data["seq"],
        order_counter=data.get("order_counter", 0),
        compensating=data.get("compensating", False),
        cancel_requested=data.get("cancel_requested", False),
        paused=data.get("paused", False),
        rules=data.get("rules", 1),  # snapshots from before the stamp were made under the first rules
        signals_kept=list(data.get("signals_kept", [])),
        started_at=_time_in(data.get("started_at")),
        updated_at=_time_in(data.get("updated_at")),
        ended_at=_time_in(data.get("ended_at")),
    )
