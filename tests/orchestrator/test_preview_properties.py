"""A preview says exactly what the engine then does.

For random processes (driven through the real shell: replies that succeed, fail or are refused,
timers that fire, a pause) and a random operator action: the preview refuses exactly what the
engine refuses, and when the action is taken and every command out is then answered with a
success, the commands the engine sends are exactly the commands the preview listed, and the
process ends as the preview said.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import Counter, deque
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_statistic
from hypothesis import strategies as st
from pydantic import EmailStr

from booking.demo import DEMO_WORKFLOWS
from orchestrator.actions import ACTIONS, ActionName
from orchestrator.commands import command_get
from orchestrator.engine.decide import ActionNotAllowed
from orchestrator.messages import command_parse, reply_envelope
from orchestrator.models import Outbox, ProcessInstance
from orchestrator.previews import preview
from orchestrator.processes import operator_act, process_start, timers_fire
from orchestrator.selectors import definition_of, state_of
from orchestrator.status import ProcessStatus, StepStatus
from tests.support.engine import reply_take, trip_input
from tests.support.people import an_operator

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("PREVIEW_EXAMPLES", "80"))

# One move of the world before the operator acts.
Move = tuple[str, int]
moves = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["succeed", "fail", "refuse", "succeed", "succeed"]), st.integers(0, 5)),
        st.tuples(st.just("timers"), st.integers(1, 120)),  # seconds the clock jumps
        st.tuples(st.just("pause"), st.just(0)),
    ),
    max_size=14,
)


def _outbox(process: ProcessInstance, after_id: int = 0) -> list[Outbox]:
    return list(Outbox.objects.filter(process=process, id__gt=after_id).order_by("id"))


def _reply(row: Outbox, outcome: str) -> None:
    command = command_parse(row.body)
    body = reply_envelope(
        command,
        succeeded=outcome == "succeed",
        output={},
        error="" if outcome == "succeed" else "boom",
        business=outcome == "refuse",
    )
    reply_take(body)


def _drive(process: ProcessInstance, plan: list[Move], operator: Any) -> None:
    """Put the process in a random state through the engine's real entry points."""
    answered: set[str] = set()
    clock = timezone.now()
    for kind, n in plan:
        if kind == "timers":
            clock += timedelta(seconds=n)
            timers_fire(now=clock)
        elif kind == "pause":
            with contextlib.suppress(ActionNotAllowed):  # not running now: the move does nothing
                operator_act(process_id=str(process.pk), action="pause", user=operator, reason="look")
        else:
            waiting = [row for row in _outbox(process) if row.message_id not in answered]
            if waiting:
                row = waiting[n % len(waiting)]
                answered.add(row.message_id)
                _reply(row, kind)


def _valid_output(command: str) -> dict[str, Any]:
    """An output the command declares, for an operator's skip."""
    fields = command_get(command).output.model_fields

    def value(annotation: Any) -> Any:
        if annotation is bool:
            return True
        if annotation is EmailStr:
            return "ops@example.com"  # an e-mail sent by hand, say
        return "ABCDEF"

    return {name: value(info.annotation) for name, info in fields.items()}


def _in_flight_rows(process: ProcessInstance) -> list[Outbox]:
    """The commands out whose answer the process waits for (its running steps and undos)."""
    state = state_of(process)
    ids = []
    for key, stp in state.steps.items():
        if stp.status == StepStatus.RUNNING:
            ids.append(f"{process.pk}:{key}:action:{stp.attempt}")
        elif stp.status == StepStatus.COMPENSATING:
            ids.append(f"{process.pk}:{key}:compensation:{stp.comp_attempt}")
    rows = {row.message_id: row for row in Outbox.objects.filter(message_id__in=ids)}
    return [rows[i] for i in ids if i in rows]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    workflow=st.sampled_from(sorted(DEMO_WORKFLOWS)),
    plan=moves,
    action=st.sampled_from(sorted(ACTIONS)),
    step_choice=st.integers(0, 10),
    with_step=st.booleans(),
)
def test_the_preview_lists_exactly_what_the_engine_sends(
    trip_workflows: None, workflow: str, plan: list[Move], action: str, step_choice: int, with_step: bool
) -> None:
    operator = an_operator()
    process, _ = process_start(
        workflow=workflow, business_key=f"prop-{uuid.uuid4()}", input=trip_input(), actor="test"
    )
    _drive(process, plan, operator)
    process.refresh_from_db()
    definition = definition_of(process)
    state = state_of(process)
    keys = [spec.key for spec in definition.steps]
    step = keys[step_choice % len(keys)] if with_step or action == ActionName.SKIP else None
    output = None
    if action == ActionName.SKIP and step is not None and not state.steps[step].status.is_compensation:
        output = _valid_output(definition.step(step).command)

    said = preview(definition, state, action, step, at=timezone.now(), output=output)
    last_id = max((row.id for row in _outbox(process)), default=0)
    in_flight = _in_flight_rows(process)
    try:
        operator_act(
            process_id=str(process.pk), action=action, user=operator, reason="why", step=step, output=output
        )
    except ActionNotAllowed as refused:
        assert said.refusal, f"the preview allowed what the engine refused: {refused}"
        note_statistic(f"{action}: refused")
        return
    assert not said.refusal, f"the preview refused what the engine did: {said.refusal}"

    # Answer everything out with a success, oldest first, until the process sends nothing more.
    sent = _outbox(process, last_id)  # what the action itself sent
    to_answer = deque([*in_flight, *sent])
    seen = {row.id for row in to_answer}
    for _ in range(500):
        if not to_answer:
            break
        _reply(to_answer.popleft(), "succeed")
        for row in _outbox(process, last_id):
            if row.id not in seen:
                seen.add(row.id)
                to_answer.append(row)
                sent.append(row)
    assert not to_answer, "the process kept sending"

    engine_sent = Counter((row.task_name, command_parse(row.body).step) for row in sent)
    previewed = Counter((command.name, command.step) for command in said.commands)
    assert engine_sent == previewed, said.lines
    note_statistic(f"{action}: applied, {'some' if previewed else 'no'} commands")
    process.refresh_from_db()
    if said.ends is not None:
        assert process.status == said.ends
    else:
        assert not ProcessStatus(process.status).is_terminal, said.lines
