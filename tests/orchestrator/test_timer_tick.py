"""The timer tick reaches a worker whose clock runs ahead of the beat host's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery import app
from orchestrator.engine.codec import state_from_json, state_to_json
from orchestrator.models import HistoryEntry, ProcessInstance
from orchestrator.processes import process_start
from tests.support.engine import trip_input
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

SKEW = timedelta(seconds=60)


@pytest.mark.workers
@pytest.mark.postgres
@pytest.mark.redis
def test_a_tick_from_a_beat_a_minute_behind_still_fires_due_timers(
    celery_worker_process: WorkerProcess, trip_workflows: None
) -> None:
    process, _ = process_start(workflow="trip-booking", business_key="TRP-SKEW01", input=trip_input())
    # The payment's attempt is overdue: its timeout should fire at the next tick.
    state = state_from_json(process.state)
    overdue = timezone.now() - timedelta(seconds=1)
    state.steps["payment"].deadline_at = overdue
    ProcessInstance.objects.filter(pk=process.pk).update(state=state_to_json(state), wake_at=overdue)

    # Beat stamps the expiry from its own clock, here a minute behind the worker's.
    beat_clock = timezone.now() - SKEW
    expires = settings.CELERY_BEAT_SCHEDULE["timer-tick"]["options"]["expires"]  # type: ignore[index]
    app.send_task(
        "orchestrator.tick",
        queue=settings.ORCHESTRATOR_QUEUE,
        expires=beat_clock + timedelta(seconds=float(expires)),
    )

    wait_until(
        lambda: HistoryEntry.objects.filter(process=process, type="step.timed_out").exists(),
        30,
        "the tick to fire the overdue timer",
    )
