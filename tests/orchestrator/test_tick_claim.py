"""Ticks that queued up behind a backlog do not all sweep the timers: one per period does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from orchestrator.engine.codec import state_from_json, state_to_json
from orchestrator.models import HistoryEntry, ProcessInstance
from orchestrator.processes import process_start
from orchestrator.tasks import TICK_CLAIM, tick
from tests.support.engine import trip_input

pytestmark = pytest.mark.usefixtures("trip_workflows")


def overdue(key: str) -> ProcessInstance:
    process, _ = process_start(workflow="trip-booking", business_key=key, input=trip_input(key))
    state = state_from_json(process.state)
    past = timezone.now() - timedelta(seconds=1)
    state.steps["payment"].deadline_at = past
    ProcessInstance.objects.filter(pk=process.pk).update(state=state_to_json(state), wake_at=past)
    return process


def test_a_second_tick_within_the_period_returns_at_once(sent_tasks: object) -> None:
    cache.delete(TICK_CLAIM)
    first = overdue("TRP-TICK01")
    assert tick() == 1
    second = overdue("TRP-TICK02")
    assert tick() == 0  # the backlog's next tick: nothing swept
    assert not HistoryEntry.objects.filter(process=second, type="step.timed_out").exists()
    cache.delete(TICK_CLAIM)  # a period later
    assert tick() == 1
    assert HistoryEntry.objects.filter(process=first, type="step.timed_out").exists()
    assert HistoryEntry.objects.filter(process=second, type="step.timed_out").exists()
