"""Workflow definitions: from their rows to the plain data the engine decides on."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from orchestrator.commands import commands_all
from orchestrator.engine.types import (
    Definition,
    EarlySignal,
    OnTimeout,
    RetryPolicy,
    SignalSpec,
    StepSpec,
    WaitKind,
    WaitSpec,
)
from orchestrator.engine.validate import Problem, deadline_problems, definition_problems, kept_steps
from orchestrator.models import StepDefinition, WorkflowDefinition
from orchestrator.status import DefinitionStatus, OnExhausted, StepPhase


class InvalidDefinition(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def step_spec(row: StepDefinition) -> StepSpec:
    return StepSpec(
        key=row.key,
        command=row.command,
        compensation=row.compensation or None,
        depends_on=tuple(row.depends_on or ()),
        retry=RetryPolicy(
            max_attempts=row.max_attempts,
            initial_delay=row.initial_delay,
            multiplier=row.multiplier,
            max_delay=row.max_delay,
            jitter=row.jitter,
        ),
        timeout=row.timeout,
        on_exhausted=OnExhausted(row.on_exhausted),
        phase=StepPhase(row.phase),
        params=dict(row.params or {}),
        keep_on_compensation=row.keep_on_compensation,
        wait=wait_from_json(row.key, row.wait) if row.wait else None,
    )


def wait_from_json(step: str, data: Any) -> WaitSpec:
    """A wait step's spec from its stored JSON; InvalidDefinition, naming the step, if it is not one."""
    try:
        if not isinstance(data, dict):
            raise TypeError("a JSON object")
        return WaitSpec(
            kind=WaitKind(data["kind"]),
            signals=tuple(str(name) for name in data.get("signals", ())),
            fail_on=tuple(str(name) for name in data.get("fail_on", ())),
            on_timeout=OnTimeout(data.get("on_timeout", OnTimeout.FAIL)),
            seconds=float(data.get("seconds", 0.0)),
            until=str(data.get("until", "")),
            offset=float(data.get("offset", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidDefinition([Problem(step, "wait", f"not a wait: {exc}")]) from None


def wait_to_json(wait: WaitSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": wait.kind.value}
    if wait.kind == WaitKind.SIGNAL:
        data |= {
            "signals": list(wait.signals),
            "fail_on": list(wait.fail_on),
            "on_timeout": wait.on_timeout.value,
        }
    elif wait.kind == WaitKind.SLEEP:
        data["seconds"] = wait.seconds
    else:
        data |= {"until": wait.until, "offset": wait.offset}
    return data


def signals_from_json(data: Any) -> tuple[SignalSpec, ...]:
    """A workflow's signals from their stored JSON; InvalidDefinition if they are not."""
    try:
        if not isinstance(data, list):
            raise TypeError("a JSON list")
        return tuple(
            SignalSpec(
                name=str(item["name"]),
                schema=dict(item.get("schema") or {}),
                early=EarlySignal(item.get("early", EarlySignal.KEEP)),
            )
            for item in data
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidDefinition([Problem(None, "signals", f"not a list of signals: {exc}")]) from None


def signals_to_json(signals: tuple[SignalSpec, ...]) -> list[dict[str, Any]]:
    return [{"name": s.name, "schema": s.schema, "early": s.early.value} for s in signals]


def definition_compile(definition: WorkflowDefinition) -> Definition:
    steps = tuple(step_spec(row) for row in definition.steps.all())
    return Definition(
        name=definition.name,
        version=definition.version,
        steps=steps,
        signals=signals_from_json(definition.signals or []),
    )


def declared_commands() -> dict[str, str | None]:
    return {spec.name: spec.compensation for spec in commands_all()}


def kept_steps_of(definition: Definition) -> list[str]:
    """Steps whose command declares an undo that the definition keeps on compensation on purpose."""
    return kept_steps(definition, declared_commands())


def definition_check(definition: Definition) -> None:
    problems = definition_problems(definition, declared_commands()) + schema_problems(definition)
    if problems:
        raise InvalidDefinition(problems)


def schema_problems(definition: Definition) -> list[Problem]:
    """The signals whose data schema is not a JSON Schema (the engine does not read schemas)."""
    return [
        Problem(None, "signals", f"{signal.name}: its schema is not a JSON Schema: {invalid.message}")
        for signal in definition.signals
        if (invalid := _schema_error(signal.schema)) is not None
    ]


def _schema_error(schema: dict[str, Any]) -> SchemaError | None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as invalid:
        return invalid
    return None


def signal_data_problem(signal: SignalSpec, data: Any) -> str:
    """What is wrong with a signal's data against its declared JSON Schema, naming the field
    ("data.amount: 'ten' is not of type 'number'"); "" when nothing is."""
    errors = sorted(
        Draft202012Validator(signal.schema).iter_errors(data), key=lambda e: list(e.absolute_path)
    )
    if not errors:
        return ""
    first = errors[0]
    where = ".".join(["data", *(str(part) for part in first.absolute_path)])
    return f"{where}: {first.message}"


# Frozen definitions never change, so each worker keeps the compiled form. The key includes
# frozen_at: a row id reused after a database reset is a different definition.
_cache: dict[tuple[int, str], Definition] = {}
_cache_lock = threading.Lock()


def definition_for_run(definition: WorkflowDefinition) -> Definition:
    """The compiled definition of a version that processes run on (it is frozen)."""
    if definition.frozen_at is None:
        return definition_compile(definition)
    key = (definition.pk, definition.frozen_at.isoformat())
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None:
        cached = definition_compile(definition)
        with _cache_lock:
            _cache[key] = cached
    return cached


def definition_compiled(definition_id: int, frozen_at: datetime | None) -> Definition:
    """The compiled definition of a version by its id and freezing stamp (what a process row and
    its definition's row say), from the cache when it is there."""
    if frozen_at is not None:
        with _cache_lock:
            cached = _cache.get((definition_id, frozen_at.isoformat()))
        if cached is not None:
            return cached
    return definition_for_run(WorkflowDefinition.objects.get(pk=definition_id))


def definition_freeze(definition: WorkflowDefinition) -> None:
    """Mark a version as used: from now on it cannot be edited (a new version can).

    Runs inside the caller's transaction, holding the version's row lock, so that an edit
    (`definition_save`, which takes the same lock) either finishes first or sees it frozen.
    """
    locked = WorkflowDefinition.objects.select_for_update().only("frozen_at").get(pk=definition.pk)
    if locked.frozen_at is None:
        locked.frozen_at = timezone.now()
        WorkflowDefinition.objects.filter(pk=definition.pk).update(frozen_at=locked.frozen_at)
    definition.frozen_at = locked.frozen_at


def definition_active(name: str) -> WorkflowDefinition | None:
    return WorkflowDefinition.objects.filter(name=name, status=DefinitionStatus.ACTIVE).first()


@transaction.atomic
def definition_save(
    *,
    name: str,
    version: int,
    description: str,
    steps: list[StepSpec],
    activate: bool = False,
    deadline: timedelta | None = None,
    deadline_reason: str = "",
    signals: tuple[SignalSpec, ...] = (),
) -> WorkflowDefinition:
    """Create (or replace, while unused) one version of a workflow, validated first.

    `deadline`: how long after its start a process should have ended (the attention view shows
    those past it), and `deadline_reason` why, in a few words.
    """
    compiled = Definition(name=name, version=version, steps=tuple(steps), signals=tuple(signals))
    definition_check(compiled)
    if problems := deadline_problems(deadline.total_seconds() if deadline is not None else None):
        raise InvalidDefinition(problems)
    WorkflowDefinition.objects.get_or_create(name=name, version=version)
    row = WorkflowDefinition.objects.select_for_update().get(name=name, version=version)
    if row.frozen_at is not None:
        raise InvalidDefinition([Problem(None, "version", f"{row} has processes and cannot change")])
    row.description = description
    row.deadline = deadline
    row.deadline_reason = deadline_reason
    row.signals = signals_to_json(tuple(signals))
    row.steps.all().delete()
    StepDefinition.objects.bulk_create(
        StepDefinition(
            definition=row,
            position=index,
            key=spec.key,
            command=spec.command,
            compensation=spec.compensation or "",
            depends_on=list(spec.depends_on),
            max_attempts=spec.retry.max_attempts,
            initial_delay=spec.retry.initial_delay,
            multiplier=spec.retry.multiplier,
            max_delay=spec.retry.max_delay,
            jitter=spec.retry.jitter,
            timeout=spec.timeout,
            on_exhausted=spec.on_exhausted,
            phase=spec.phase,
            params=spec.params,
            keep_on_compensation=spec.keep_on_compensation,
            wait=wait_to_json(spec.wait) if spec.wait is not None else None,
        )
        for index, spec in enumerate(steps)
    )
    # Never write frozen_at from here: only definition_freeze sets it, under the same lock.
    row.save(update_fields=["description", "deadline", "deadline_reason", "signals", "updated_at"])
    if activate:
        definition_activate(row)
    return row


@transaction.atomic
def definition_activate(definition: WorkflowDefinition) -> WorkflowDefinition:
    """Make this version the one new processes start on; the previous active one retires.

    Processes already running keep the version they started with.
    """
    definition_check(definition_compile(definition))
    WorkflowDefinition.objects.filter(name=definition.name, status=DefinitionStatus.ACTIVE).exclude(
        pk=definition.pk
    ).update(status=DefinitionStatus.RETIRED)
    WorkflowDefinition.objects.filter(pk=definition.pk).update(status=DefinitionStatus.ACTIVE)
    definition.status = DefinitionStatus.ACTIVE
    return definition


def definition_retire(definition: WorkflowDefinition) -> None:
    """No new process starts on it; running ones finish on it."""
    WorkflowDefinition.objects.filter(pk=definition.pk).update(status=DefinitionStatus.RETIRED)
    definition.status = DefinitionStatus.RETIRED


@transaction.atomic
def definition_new_version(definition: WorkflowDefinition) -> WorkflowDefinition:
    """A draft copy of `definition` under the next free version number, to edit and activate."""
    latest = WorkflowDefinition.objects.filter(name=definition.name).order_by("-version").first()
    number = (latest.version if latest else definition.version) + 1
    copy = WorkflowDefinition.objects.create(
        name=definition.name,
        version=number,
        description=definition.description,
        deadline=definition.deadline,
        deadline_reason=definition.deadline_reason,
        signals=definition.signals,
        status=DefinitionStatus.DRAFT,
    )
    steps = list(definition.steps.all())
    for step in steps:
        step.pk = None
        step.definition = copy
    StepDefinition.objects.bulk_create(steps)
    return copy
