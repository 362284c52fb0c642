"""The business keys of processes: the values of their steps' outputs that people quote.

A customer on the phone reads out a tracking number or a confirmation code, not a process id.
Each command declares which fields of its output are such keys (`BusinessKey` in
orchestrator.commands); when a transition brings a step's output, its keys are written to one
narrow table, indexed by value, whatever the service. A key of a service declared today is
searchable from its first process, with no index or migration of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from orchestrator.commands import searchable_keys
from orchestrator.engine.types import Definition
from orchestrator.models import ProcessInstance, ProcessKey

VALUE_MAX = 200


@dataclass(frozen=True)
class KeyValue:
    step: str
    name: str  # the output field, e.g. "tracking_number"
    value: str  # normalised: searched as typed, in any case


def key_normalise(text: str) -> str:
    """How keys are stored and looked up: codes are quoted in any case, with stray spaces."""
    return text.strip().upper()[:VALUE_MAX]


def keys_of(definition: Definition, context: Mapping[str, Any]) -> list[KeyValue]:
    """The keys of every step output in `context`."""
    return list(_keys(definition, {}, context))


def keys_changed(
    definition: Definition, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[KeyValue]:
    """The keys of the step outputs that `after` brings or changes (a transition's new keys)."""
    return list(_keys(definition, before, after))


def _keys(definition: Definition, before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[KeyValue]:
    for spec in definition.steps:
        output = after.get(spec.key)
        if not isinstance(output, dict) or output == before.get(spec.key):
            continue
        for key in searchable_keys(spec.command):
            value = output.get(key.field)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                yield KeyValue(spec.key, key.field, key_normalise(str(value)))


def keys_rows(keys: Sequence[tuple[ProcessInstance, KeyValue]]) -> list[ProcessKey]:
    """The rows of the keys (not saved yet)."""
    return [
        ProcessKey(process=instance, step=key.step, name=key.name, value=key.value) for instance, key in keys
    ]


def keys_write(rows: Sequence[ProcessKey]) -> None:
    """Record key rows in the current transaction, in one statement; a step's key written again
    (an operator's skip after a success, say) takes the new value."""
    if not rows:
        return
    ProcessKey.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["process", "step", "name"], update_fields=["value"]
    )


def processes_keyed(text: str) -> QuerySet[Any]:
    """The ids of the processes with a key equal to `text` (case aside), by index."""
    return ProcessKey.objects.filter(value=key_normalise(text)).values("process_id")
