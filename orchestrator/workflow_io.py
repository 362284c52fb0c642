"""Workflow definitions as JSON files, so that they can live in version control.

Import checks a file exactly like the admin does and applies it in one transaction: a file
with any problem changes nothing, and the error lists every problem with where it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.definitions import (
    InvalidDefinition,
    declared_commands,
    definition_activate,
    definition_compile,
    definition_retire,
    definition_save,
    schema_problems,
    signals_from_json,
    signals_to_json,
    wait_from_json,
    wait_to_json,
)
from orchestrator.engine.types import Definition, RetryPolicy, StepSpec
from orchestrator.engine.validate import deadline_problems, definition_problems
from orchestrator.models import WorkflowDefinition
from orchestrator.status import DefinitionStatus, OnExhausted, StepPhase

FORMAT = "trip-orchestrator/workflows"


class RetryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_attempts: int
    initial_delay: float
    multiplier: float
    max_delay: float
    jitter: float = 0.0


class StepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=64, pattern=r"^[-a-zA-Z0-9_]+$")
    command: str
    compensation: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    retry: RetryFile
    timeout: float
    on_exhausted: Literal["pause", "compensate"] = "pause"
    phase: Literal["main", "after_compensation"] = "main"
    params: dict[str, Any] = Field(default_factory=dict)
    keep_on_compensation: bool = False
    # A wait step (no command): as orchestrator.engine.types.WaitSpec, e.g. {"kind": "sleep", "seconds": 60}.
    wait: dict[str, Any] | None = None


class WorkflowFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    version: int = Field(ge=1)
    description: str = ""
    status: Literal["draft", "active", "retired"] = "draft"
    # The business deadline: seconds after its start by which a process should have ended.
    deadline: float | None = None
    deadline_reason: str = Field(default="", max_length=200)
    # Signals its processes take from outside: [{"name", "schema", "early"}].
    signals: list[dict[str, Any]] = Field(default_factory=list)
    steps: list[StepFile]


class WorkflowsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["trip-orchestrator/workflows"]
    workflows: list[WorkflowFile]


class ImportRefused(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _step_file(spec: StepSpec) -> dict[str, Any]:
    wait = {"wait": wait_to_json(spec.wait)} if spec.wait is not None else {}
    return wait | {
        "key": spec.key,
        "command": spec.command,
        "compensation": spec.compensation,
        "depends_on": list(spec.depends_on),
        "retry": {
            "max_attempts": spec.retry.max_attempts,
            "initial_delay": spec.retry.initial_delay,
            "multiplier": spec.retry.multiplier,
            "max_delay": spec.retry.max_delay,
            "jitter": spec.retry.jitter,
        },
        "timeout": spec.timeout,
        "on_exhausted": spec.on_exhausted.value,
        "phase": spec.phase.value,
        "params": spec.params,
        "keep_on_compensation": spec.keep_on_compensation,
    }


def workflows_export(definitions: list[WorkflowDefinition]) -> str:
    """The definitions as one JSON document, steps in their order."""
    workflows = []
    for row in sorted(definitions, key=lambda d: (d.name, d.version)):
        compiled = definition_compile(row)
        workflows.append(
            {
                "name": row.name,
                "version": row.version,
                "description": row.description,
                "status": row.status,
                "deadline": row.deadline.total_seconds() if row.deadline is not None else None,
                "deadline_reason": row.deadline_reason,
                **({"signals": signals_to_json(compiled.signals)} if compiled.signals else {}),
                "steps": [_step_file(spec) for spec in compiled.steps],
            }
        )
    return json.dumps({"format": FORMAT, "workflows": workflows}, indent=2, ensure_ascii=False) + "\n"


def _spec(step: StepFile) -> StepSpec:
    return StepSpec(
        key=step.key,
        command=step.command,
        compensation=step.compensation or None,
        depends_on=tuple(step.depends_on),
        retry=RetryPolicy(**step.retry.model_dump()),
        timeout=step.timeout,
        on_exhausted=OnExhausted(step.on_exhausted),
        phase=StepPhase(step.phase),
        params=step.params,
        keep_on_compensation=step.keep_on_compensation,
        wait=wait_from_json(step.key, step.wait) if step.wait is not None else None,
    )


def _compiled(workflow: WorkflowFile) -> Definition:
    """The file's workflow as the engine reads it; InvalidDefinition if a wait or a signal is not one."""
    steps = tuple(_spec(step) for step in workflow.steps)
    return Definition(workflow.name, workflow.version, steps, signals_from_json(workflow.signals))


@dataclass(frozen=True)
class ImportRights:
    """What the importing user may do, as in the admin: add a version (a draft), and change what
    exists or what new processes run on (replace an unused version, activate, retire)."""

    add: bool = True
    change: bool = True


# The management command is for operators with shell access: it may do everything.
ALL_RIGHTS = ImportRights()


def workflows_import(text: str, *, rights: ImportRights = ALL_RIGHTS) -> list[str]:
    """Apply a JSON document of workflows; returns what was done, one line per workflow.

    Raises ImportRefused with every problem found, having changed nothing, including each thing
    the file asks for that `rights` do not allow.
    """
    try:
        document = WorkflowsFile.model_validate_json(text)
    except ValidationError as exc:
        raise ImportRefused(
            [f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors()]
        ) from None
    problems = []
    commands = declared_commands()
    seen = set()
    for workflow in document.workflows:
        where = f"{workflow.name} v{workflow.version}"
        if (workflow.name, workflow.version) in seen:
            problems.append(f"{where}: appears twice in the file")
        seen.add((workflow.name, workflow.version))
        try:
            compiled = _compiled(workflow)
        except InvalidDefinition as invalid:
            problems += [f"{where}: {problem}" for problem in invalid.problems]
            continue
        problems += [f"{where}: {problem}" for problem in definition_problems(compiled, commands)]
        problems += [f"{where}: {problem}" for problem in schema_problems(compiled)]
        problems += [f"{where}: {problem}" for problem in deadline_problems(workflow.deadline)]
        existing = WorkflowDefinition.objects.filter(name=workflow.name, version=workflow.version).first()
        if (
            existing is not None
            and existing.frozen_at is not None
            and definition_compile(existing) != compiled
        ):
            problems.append(
                f"{where}: exists with other steps and has processes; give the file a new version"
            )
        problems += [f"{where}: {refusal}" for refusal in _refusals(workflow, existing, compiled, rights)]
    actives = [w for w in document.workflows if w.status == "active"]
    for name in {w.name for w in actives}:
        if sum(1 for w in actives if w.name == name) > 1:
            problems.append(f"{name}: more than one version is marked active")
    if problems:
        raise ImportRefused(problems)
    done = []
    try:
        with transaction.atomic():
            for workflow in document.workflows:
                done.append(_apply(workflow))
    except InvalidDefinition as exc:  # a race with an edit: still nothing changed
        raise ImportRefused([str(p) for p in exc.problems]) from None
    return done


def _refusals(
    workflow: WorkflowFile, existing: WorkflowDefinition | None, compiled: Definition, rights: ImportRights
) -> list[str]:
    """What the file asks for this version that the importing user may not do."""
    refused = []
    if existing is None and not rights.add:
        refused.append("you may not add workflow versions")
    if (
        existing is not None
        and existing.frozen_at is None
        and not rights.change
        and (
            definition_compile(existing) != compiled
            or existing.description != workflow.description
            or _deadline(existing) != (workflow.deadline, workflow.deadline_reason)
        )
    ):
        refused.append("you may not replace an existing version")
    current = existing.status if existing is not None else DefinitionStatus.DRAFT
    if workflow.status != current and workflow.status != DefinitionStatus.DRAFT and not rights.change:
        verb = "activate" if workflow.status == DefinitionStatus.ACTIVE else "retire"
        refused.append(f"you may not {verb} a version (it needs the permission to change workflows)")
    return refused


def _deadline(row: WorkflowDefinition) -> tuple[float | None, str]:
    return (row.deadline.total_seconds() if row.deadline is not None else None, row.deadline_reason)


def _apply(workflow: WorkflowFile) -> str:
    where = f"{workflow.name} v{workflow.version}"
    compiled = _compiled(workflow)
    existing = WorkflowDefinition.objects.filter(name=workflow.name, version=workflow.version).first()
    if existing is not None and existing.frozen_at is not None:
        action = f"{where}: unchanged (in use)"
        row = existing
    else:
        row = definition_save(
            name=workflow.name,
            version=workflow.version,
            description=workflow.description,
            steps=list(compiled.steps),
            deadline=timedelta(seconds=workflow.deadline) if workflow.deadline is not None else None,
            deadline_reason=workflow.deadline_reason,
            signals=compiled.signals,
        )
        action = f"{where}: {'replaced' if existing else 'created'}"
    if workflow.status == DefinitionStatus.ACTIVE and row.status != DefinitionStatus.ACTIVE:
        definition_activate(row)
        action += ", activated"
    elif workflow.status == DefinitionStatus.RETIRED and row.status != DefinitionStatus.RETIRED:
        definition_retire(row)
        action += ", retired"
    return action
