"""What an operator's action will do, in words, before anyone confirms it.

The words are a description of the engine's own dry run (`engine.preview.plan`): the commands
listed are the commands the engine sends if the action is taken now and every service then
answers with a success (a property test holds the two together). The operator event itself is
built here too, once, for the preview and for the real action (`operator_event`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.actions import ActionName, OperatorAction, StepUse, action_get
from orchestrator.commands import command_get, command_summary, output_validate
from orchestrator.engine.decide import ActionNotAllowed, check_operator_action, stays_on_terminate
from orchestrator.engine.preview import Plan, plan
from orchestrator.engine.summary import retry_target, wait_words
from orchestrator.engine.summary import step_does as step_does  # for the dashboard (the facade)
from orchestrator.engine.types import ACTION, Command, Definition, Event, EventType, State
from orchestrator.status import ProcessStatus, StepStatus


@dataclass(frozen=True)
class Preview:
    action: str
    step: str | None  # the step it is about (for a retry without one: the step that waits)
    refusal: str  # why it does not apply now; "" when it does
    lines: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()
    ends: ProcessStatus | None = None  # how the process ends, when it ends without anyone else

    @property
    def queues(self) -> Counter[str]:
        """How many commands each service's queue will receive."""
        return Counter(command_get(command.name).queue for command in self.commands)


def operator_event(
    definition: Definition,
    state: State,
    action: str,
    step: str | None,
    *,
    actor: str,
    at: datetime,
    reason: str = "",
    output: dict[str, Any] | None = None,
    check_output: bool = True,
) -> Event:
    """The history event of an operator's action, or ActionNotAllowed with the reason.

    A retry without a step picks the one that waits (for an operator, or in backoff); a skip's
    output is checked against its command's declared output (InvalidOutput), unless
    `check_output` is off (a preview before the output is typed: it does not change what is sent).
    """
    kind, step = _applicable(definition, state, action, step)
    payload: dict[str, Any] = {}
    if kind.event == EventType.OPERATOR_SKIPPED and step is not None:
        undone_by_hand = state.steps[step].status.is_compensation  # nothing declared to check
        is_wait = definition.step(step).wait is not None  # no command: no declared output
        if undone_by_hand or is_wait or not check_output:
            payload["output"] = output or {}
        else:
            payload["output"] = output_validate(definition.step(step).command, output or {})
    return Event(
        type=kind.event,
        at=at,
        message_id=f"operator:{uuid.uuid4()}",
        step=step,
        payload=payload,
        actor=actor,
        reason=reason,
    )


def action_refusal(definition: Definition, state: State, action: str, step: str | None = None) -> str:
    """Why the action does not apply now, or "" when it does."""
    try:
        _applicable(definition, state, action, step)
    except ActionNotAllowed as refused:
        return str(refused)
    return ""


def _applicable(
    definition: Definition, state: State, action: str, step: str | None
) -> tuple[OperatorAction, str | None]:
    """The action and the step it is about, or ActionNotAllowed with the reason."""
    kind = action_get(action)
    if kind.step == StepUse.REQUIRED and not step:
        raise ActionNotAllowed(f"{kind.name} needs a step")
    if kind.step == StepUse.NONE:
        step = None
    if kind.event == EventType.OPERATOR_RETRIED and step is None:
        step = retry_target(definition, state)
        if step is None:
            raise ActionNotAllowed("no step waits to be retried")
    check_operator_action(definition, state, kind.event, step)
    return kind, step


def preview(
    definition: Definition,
    state: State,
    action: str,
    step: str | None = None,
    *,
    at: datetime,
    output: dict[str, Any] | None = None,
) -> Preview:
    """What `action` does to this process now, from the engine's dry run."""
    try:
        event = operator_event(
            definition,
            state,
            action,
            step,
            actor="preview",
            at=at,
            output=output,
            check_output=output is not None,
        )
    except (ActionNotAllowed, ValueError) as refused:
        return Preview(action, step, str(refused))
    dry_run = plan(definition, state, event)
    retried = event.step if action == ActionName.RETRY else None
    lines = [
        *_intro(definition, state, action, event.step),
        *_command_lines(definition, state, dry_run, retried),
    ]
    lines += _settling(definition, state, action, dry_run)
    final = dry_run.state.status
    return Preview(
        action,
        event.step,
        "",
        tuple(lines),
        dry_run.commands,
        ends=final if final.is_terminal else None,
    )


# --- the words -------------------------------------------------------------------------------


def _undo_summary(definition: Definition, state: State, step: str) -> str:
    spec = definition.step(step)
    assert spec.compensation is not None
    st = state.steps[step]
    text = command_summary(spec.compensation, input=state.input, output=st.output)
    if st.status in (StepStatus.FAILED, StepStatus.RETRYING, StepStatus.PENDING) and not st.output:
        text += f" (in case {step} was done after all: it is {'in doubt' if st.in_doubt else 'unconfirmed'})"
    return text


def _intro(definition: Definition, state: State, action: str, step: str | None) -> list[str]:
    if action == ActionName.PAUSE:
        return [
            "No new command is sent until someone resumes it.",
            "Replies and timeouts are still recorded.",
        ]
    if action == ActionName.RESUME:
        return ["Commands held while paused are sent now; the process goes on from where it is."]
    if action == ActionName.TERMINATE:
        return _terminate_lines(definition, state)
    if action in (ActionName.CANCEL, ActionName.COMPENSATE):
        running = [key for key, st in state.steps.items() if st.status == StepStatus.RUNNING]
        return [f"Wait for {key} (under way now) to answer, then undo, newest first:" for key in running]
    assert step is not None
    spec = definition.step(step)
    st = state.steps[step]
    if spec.wait is not None:
        if action == ActionName.RETRY:
            return [f"Start {step} again now: it {wait_words(spec)}."]
        return [f"Record {step} as done with the output you give, without waiting any longer."]
    if action == ActionName.RETRY:
        if st.status.is_compensation:
            return [f"Undo {step} again now: {_undo_summary(definition, state, step)}."]
        summary = command_summary(spec.command, input=state.input)
        lines = [f"Send {spec.command} for {step} again now ({summary}), as attempt {st.attempt + 1}."]
        if st.in_doubt:
            lines.append(
                "The step is in doubt: the same idempotency key is used, so if the service did act, "
                "it answers with what it did instead of acting twice."
            )
        if st.status == StepStatus.FAILED:
            lines.append(f"It gets a fresh budget of {spec.retry.max_attempts} attempts.")
        return lines
    # skip
    if st.status.is_compensation:
        return [
            f"Record {step} as undone by hand: nobody will try {spec.compensation} again.",
            "Only do this once you have undone it yourself.",
        ]
    lines = [f"Record {step} as done with the output you give, without calling {spec.command}."]
    if st.attempt and spec.compensation:
        lines.append(
            f"The service was asked before: first {spec.compensation} is sent under the step's key, "
            "so nothing it did is left beside your work (harmless if it never acted)."
        )
    return lines


def _terminate_lines(definition: Definition, state: State) -> list[str]:
    lines = [
        "End the process now, without undoing anything: no command is sent any more, and answers "
        "still on their way are recorded and change nothing."
    ]
    left = stays_on_terminate(definition, state)
    if not left:
        return [*lines, "No service did anything a cancel would undo: nothing is left in place."]
    lines.append("Left in place, for you to settle outside the engine:")
    for step, why in left:
        spec = definition.step(step)
        assert spec.compensation is not None  # only undoable steps are left in place
        done = command_summary(spec.command, input=state.input)
        lines.append(f"{step}: {done} ({why}); not sent: {_undo_summary(definition, state, step)}")
    return lines


def _command_lines(definition: Definition, state: State, dry_run: Plan, retried: str | None) -> list[str]:
    """Each command the dry run sent, in order (a retried step's first one is the intro's)."""
    lines = []
    for n, command in enumerate(dry_run.commands):
        st = state.steps[command.step]
        if n == 0 and command.step == retried:
            continue
        if command.kind == ACTION:
            lines.append(f"Then {command.step}: {command_summary(command.name, input=state.input)}")
            continue
        undo = _undo_summary(definition, state, command.step)
        if st.status == StepStatus.COMPENSATION_FAILED:
            lines.append(f"Try again now to undo {command.step}: {undo}")
        elif st.status == StepStatus.RUNNING:
            lines.append(f"Undo {command.step} if it succeeds: {undo}")
        else:
            lines.append(f"Undo {command.step}: {undo}")
    return lines


def _settling(definition: Definition, state: State, action: str, dry_run: Plan) -> list[str]:
    """How the process stands once everything sent has succeeded."""
    final = dry_run.state
    undoing = action in (ActionName.CANCEL, ActionName.COMPENSATE)
    if final.status.is_terminal:
        lines = []
        if undoing and not any(c.kind != ACTION for c in dry_run.commands):
            lines.append("No service has done anything yet, so there is nothing to undo.")
        ending = f"The process ends {final.status.label.lower()}."
        if undoing:
            ending += " Steps not started yet will never run."
        return [*lines, ending]
    lines = []
    for key, st in final.steps.items():
        if st.status == StepStatus.RUNNING and definition.step(key).wait is not None:
            lines.append(f"Then {key} {wait_words(definition.step(key))}.")
        elif st.status == StepStatus.COMPENSATION_FAILED:
            lines.append(f"Undoing {key} failed and waits for an operator: retry or skip it.")
        elif st.awaiting_operator:
            lines.append(f"{key} failed and waits for an operator: retry, skip or cancel.")
        elif st.status in (StepStatus.RETRYING, StepStatus.COMPENSATION_RETRYING):
            lines.append(f"{key} still waits to try again (attempt {max(st.attempt, st.comp_attempt) + 1}).")
    if final.paused:
        lines.append(
            "The process is paused: nothing more is sent until someone resumes it"
            + (", and then it is undone." if undoing and final.compensating else ".")
        )
    if not dry_run.complete:
        lines.append("(The preview stopped after many steps; the process goes on from there.)")
    return lines or [f"Then the process is {final.status.label.lower()}."]
