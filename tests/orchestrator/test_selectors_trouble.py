"""Trouble on the process list: retrying after failures, in doubt, waiting for an operator, past a
business deadline; the "failing now" filter, the counts, and what needs attention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orchestrator.models import ProcessInstance, WorkflowDefinition
from orchestrator.processes import timers_fire
from orchestrator.selectors import (
    ProcessFilters,
    attention_items,
    process_troubles,
    processes_matching,
    trouble_counts,
)
from tests.support.trouble import fail_payment, patient_workflow, started  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("patient_workflow")


def matching(**filters: object) -> set[str]:
    return {p.business_key for p in processes_matching(ProcessFilters(**filters))}  # type: ignore[arg-type]


def test_a_step_backing_off_marks_its_process_retrying_with_its_attempt() -> None:
    healthy, failing = started(), started()
    failing = fail_payment(failing, 2)
    assert failing.status == "running" and failing.retrying_attempt == 2
    trouble = process_troubles([healthy, failing])[str(failing.pk)]
    assert (trouble.kind, trouble.step, trouble.attempt, trouble.max_attempts) == ("backoff", "payment", 2, 4)
    assert trouble.error == "boom" and trouble.retry_at is not None and trouble.retry_at > timezone.now()
    assert str(healthy.pk) not in process_troubles([healthy, failing])
    assert matching(failing=True) == {failing.business_key}
    assert trouble_counts() == {"retrying": 1, "in_doubt": 0, "waiting": 0}


def test_failing_now_keeps_waiting_and_in_doubt_and_drops_what_ended_after_retries() -> None:
    waiting = fail_payment(started(), 4)
    assert waiting.status == "waiting" and waiting.retrying_attempt == 0
    in_doubt = started()
    in_doubt.refresh_from_db()
    assert in_doubt.wake_at is not None
    timers_fire(now=in_doubt.wake_at + timedelta(milliseconds=1))  # the payment timed out
    in_doubt.refresh_from_db()
    assert in_doubt.in_doubt
    assert process_troubles([in_doubt])[str(in_doubt.pk)].kind == "doubt"
    # Retried, then cancelled: it had retries, it is not failing now.
    ended = fail_payment(started(), 2)
    from orchestrator.processes import operator_act
    from tests.support.people import an_operator

    operator_act(process_id=str(ended.pk), action="cancel", user=an_operator(), reason="customer called")
    ended.refresh_from_db()
    assert ended.status_now.is_terminal or ended.status == "compensating"
    assert ended.retrying_attempt == 0

    assert matching(failing=True) == {waiting.business_key, in_doubt.business_key}
    assert ended.business_key in matching(had_retries=True)
    assert trouble_counts() == {"retrying": 1, "in_doubt": 1, "waiting": 1}  # in doubt is retrying too


def test_attention_lists_waiting_in_doubt_late_retries_and_past_deadline_oldest_first() -> None:
    # In this order: firing a process's retry fires the others' due timers too.
    waiting = fail_payment(started(), 4)
    late = fail_payment(started(), 3)
    early = fail_payment(started(), 1)  # retrying, attempt 1: not yet worth a look
    quiet = started()
    now = timezone.now()
    items = {item.process.business_key: item for item in attention_items(now=now)}
    assert set(items) == {late.business_key, waiting.business_key}
    assert items[waiting.business_key].retry_step == "payment"
    assert items[waiting.business_key].reasons == ["waiting for an operator"]
    assert items[late.business_key].retry_step is None
    assert items[late.business_key].reasons == ["payment retrying: attempt 3 of 4"]

    WorkflowDefinition.objects.filter(name="patient-trip").update(
        deadline=timedelta(minutes=30), deadline_reason="the hotel hold expires"
    )
    later = [item.process.business_key for item in attention_items(now=now + timedelta(minutes=31))]
    assert later == [p.business_key for p in (waiting, late, early, quiet)]  # oldest first
    reasons = {
        item.process.business_key: item.reasons for item in attention_items(now=now + timedelta(minutes=31))
    }
    assert reasons[quiet.business_key] == ["past its deadline: the hotel hold expires"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_the_trouble_counts_read_their_partial_indexes() -> None:
    from orchestrator.selectors import IN_DOUBT, RETRYING

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a small table: make the planner show its hand
        query = ProcessInstance.objects.filter(RETRYING | IN_DOUBT)
        plan = query.explain()
    assert "process_retrying" in plan and "process_in_doubt" in plan, plan
