"""Operator actions as the dashboard offers them: who may, when it applies, what it will do."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from orchestrator import previews
from orchestrator.actions import ACTIONS, OperatorAction, may_act
from orchestrator.commands import command_get
from orchestrator.engine.types import Definition, State
from orchestrator.models import ProcessInstance
from orchestrator.previews import action_refusal
from orchestrator.processes import operator_act

User = Any  # request.user: a user or AnonymousUser


FAULTS_PERMISSION = "booking.change_servicefaults"


def may(user: User, action: str) -> bool:
    return may_act(user, action)


def refusal(definition: Definition, state: State, action: str, step: str | None = None) -> str:
    """Why the action does not apply now, or "" when it does."""
    return action_refusal(definition, state, action, step)


def applies(definition: Definition, state: State, action: str, step: str | None = None) -> bool:
    return not refusal(definition, state, action, step)


def process_actions(definition: Definition, state: State, user: User) -> list[OperatorAction]:
    """Whole-process actions that apply now and that this user may take."""
    return [
        kind
        for kind in ACTIONS.values()
        if not kind.per_step and may(user, kind.name) and applies(definition, state, kind.name)
    ]


def step_actions(definition: Definition, state: State, user: User) -> dict[str, list[OperatorAction]]:
    """Per step, the step actions that apply now and that this user may take."""
    return {
        spec.key: [
            kind
            for kind in ACTIONS.values()
            if kind.per_step and may(user, kind.name) and applies(definition, state, kind.name, spec.key)
        ]
        for spec in definition.steps
    }


def preview(definition: Definition, state: State, action: str, step: str | None = None) -> list[str]:
    """What the action will do, in the order it will happen, before anyone confirms it: the
    engine's own dry run, described (orchestrator.previews)."""
    found = previews.preview(definition, state, action, step, at=timezone.now())
    return [found.refusal] if found.refusal else list(found.lines)


def skip_fields(definition: Definition, state: State, step: str) -> list[dict[str, Any]]:
    """The output fields an operator fills in to skip a step (none to skip a compensation)."""
    st = state.steps[step]
    if st.status.is_compensation or definition.step(step).wait is not None:
        return []  # nothing declared to fill in: a compensation, or a wait (it sends no command)
    model = command_get(definition.step(step).command).output
    fields = []
    for name, info in model.model_fields.items():
        fields.append(
            {
                "name": name,
                "required": info.is_required(),
                "boolean": info.annotation is bool,
                "description": info.description or name.replace("_", " "),
            }
        )
    return fields


def skip_output_from(form: dict[str, Any], fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The posted skip form as the output dict (blank optional fields left out)."""
    output: dict[str, Any] = {}
    for field in fields:
        raw = form.get(f"output_{field['name']}", "")
        if field["boolean"]:
            output[field["name"]] = raw in ("on", "true", "1")
        elif raw.strip() or field["required"]:
            output[field["name"]] = raw.strip()
    return output


def act(
    *,
    process: ProcessInstance,
    action: str,
    user: User,
    reason: str,
    step: str | None,
    output: dict[str, Any] | None,
) -> ProcessInstance:
    """Take the action through the engine, as this user (the history records who and why)."""
    return operator_act(
        process_id=str(process.pk),
        action=action,
        user=user,
        reason=reason,
        step=step,
        output=output,
    )
