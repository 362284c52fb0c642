"""Operator actions as the dashboard offers them: who may, when it applies, what it will do."""

from __future__ import annotations

from typing import Any

from orchestrator.actions import ACTIONS, OperatorAction, may_act
from orchestrator.commands import command_get, command_summary
from orchestrator.engine.decide import COMPENSATION_IN_PROGRESS, ActionNotAllowed, check_operator_action
from orchestrator.engine.summary import compensation_plan
from orchestrator.engine.types import Definition, State, StepSpec
from orchestrator.models import ProcessInstance
from orchestrator.processes import operator_act
from orchestrator.status import StepPhase, StepStatus

User = Any  # request.user: a user or AnonymousUser


FAULTS_PERMISSION = "booking.change_servicefaults"


def may(user: User, action: str) -> bool:
    return may_act(user, action)


def refusal(definition: Definition, state: State, action: str, step: str | None = None) -> str:
    """Why the action does not apply now, or "" when it does."""
    try:
        check_operator_action(definition, state, ACTIONS[action].event, step)
    except ActionNotAllowed as refused:
        return str(refused)
    return ""


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


def _undo_summary(spec: StepSpec, state: State) -> str:
    assert spec.compensation is not None
    st = state.steps[spec.key]
    text = command_summary(spec.compensation, input=state.input, output=st.output)
    if st.status == StepStatus.FAILED and not st.output:
        text += f" (if {spec.key} was done after all: it is {'in doubt' if st.in_doubt else 'unconfirmed'})"
    return text


def preview(definition: Definition, state: State, action: str, step: str | None = None) -> list[str]:
    """What the action will do, in the order it will happen, before anyone confirms it."""
    if action in ("cancel", "compensate"):
        lines = []
        for spec in definition.steps:
            st = state.steps[spec.key]
            if st.status == StepStatus.COMPENSATION_FAILED:
                if action == "compensate":
                    lines.append(f"Try again now to undo {spec.key}: {_undo_summary(spec, state)}")
                else:
                    lines.append(
                        f"Undoing {spec.key} ({_undo_summary(spec, state)}) failed and waits for you: "
                        "retry or skip it; cancelling does not"
                    )
            elif st.status in COMPENSATION_IN_PROGRESS:
                lines.append(f"Undoing {spec.key} is under way: {_undo_summary(spec, state)}")
        to_undo, in_flight = compensation_plan(definition, state)
        for spec in in_flight:
            lines.append(f"Wait for {spec.key} (in flight now); if it succeeds, {_undo_summary(spec, state)}")
        lines += [f"Undo {spec.key}: {_undo_summary(spec, state)}" for spec in to_undo]
        if not lines:
            lines.append("No service has done anything yet, so there is nothing to undo.")
        for spec in definition.phase_steps(StepPhase.AFTER_COMPENSATION):
            lines.append(f"Then {spec.key}: {command_summary(spec.command, input=state.input)}")
        end = "cancelled" if action == "cancel" or state.cancel_requested else "compensated"
        lines.append(f"The process ends {end}. Steps not started yet will never run.")
        return lines
    if action == "pause":
        return [
            "No new command is sent until someone resumes it.",
            "Replies and timeouts are still recorded.",
        ]
    if action == "resume":
        return ["Commands held while paused are sent now; the process goes on from where it is."]
    assert step is not None
    spec = definition.step(step)
    st = state.steps[step]
    if action == "retry":
        if st.status.value.startswith("compensation"):
            return [f"Undo {step} again now: {_undo_summary(spec, state)}."]
        lines = [
            f"Send {spec.command} for {step} again now ({command_summary(spec.command, input=state.input)}), "
            f"as attempt {st.attempt + 1}."
        ]
        if st.in_doubt:
            lines.append(
                "The step is in doubt: the same idempotency key is used, so if the service did act, "
                "it answers with what it did instead of acting twice."
            )
        if st.status == StepStatus.FAILED:
            lines.append(f"It gets a fresh budget of {spec.retry.max_attempts} attempts.")
        return lines
    if action == "skip":
        if st.status.value.startswith("compensation"):
            return [
                f"Record {step} as undone by hand: nobody will try {spec.compensation} again.",
                "Only do this once you have undone it yourself.",
            ]
        nexts = [s.key for s in definition.steps if step in s.depends_on]
        lines = [f"Record {step} as done with the output you give, without calling {spec.command}."]
        if nexts:
            lines.append(f"Then {', '.join(nexts)} can start.")
        if st.attempt:
            lines.append(
                "The service was asked before: if the booking is undone later, "
                f"{spec.compensation or 'nothing'} is still sent for it, harmless if it never acted."
            )
        return lines
    return []


def skip_fields(definition: Definition, state: State, step: str) -> list[dict[str, Any]]:
    """The output fields an operator fills in to skip a step (none to skip a compensation)."""
    st = state.steps[step]
    if st.status.value.startswith("compensation"):
        return []
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
