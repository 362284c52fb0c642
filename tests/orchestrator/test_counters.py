"""/metrics after real work: the counters and histograms move by what the engine did."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.processes import process_start, timers_fire
from tests.support.engine import SentTasks, answer, last_command, reply_take, trip_input

pytestmark = pytest.mark.usefixtures("trip_workflows")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def open_metrics(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.METRICS_TOKEN = ""
    settings.RUN_MODE = "embedded"
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    yield


def test_counters_move_by_what_the_engine_did(
    client: Client, open_metrics: None, sent_tasks: SentTasks, django_capture_on_commit_callbacks: Any
) -> None:
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        # One trip booked from start to end: four commands, four successes.
        done, _ = process_start(workflow="trip-booking", business_key="done", input=trip_input())
        for step in ("payment", "flight", "hotel", "notify"):
            answer(last_command(done, step))
        # Another: the charge fails technically, is tried again, and is declined.
        declined, _ = process_start(workflow="trip-booking", business_key="declined", input=trip_input())
        answer(last_command(declined, "payment"), succeeded=False)
        timers_fire(now=timezone.now() + timedelta(minutes=5))
        second = last_command(declined, "payment")
        assert second.attempt == 2
        answer(second, succeeded=False, business=True)
        answer(last_command(declined, "notify_cancelled"))
        reply_take("garbage")
    declined.refresh_from_db()
    assert declined.status == "compensated"
    after = scrape(client)

    trip = {"workflow": "trip-booking"}
    assert moved(before, after, "orchestrator_processes_started_total", **trip) == 2
    assert moved(before, after, "orchestrator_processes_ended_total", **trip, outcome="completed") == 1
    assert moved(before, after, "orchestrator_processes_ended_total", **trip, outcome="compensated") == 1
    charge = {"service": "payments", "command": "payments.charge"}
    assert moved(before, after, "orchestrator_step_attempts_total", **charge) == 3
    assert moved(before, after, "orchestrator_step_successes_total", **charge) == 1
    assert moved(before, after, "orchestrator_step_technical_failures_total", **charge) == 1
    assert moved(before, after, "orchestrator_step_business_failures_total", **charge) == 1
    send = {"service": "notifications", "command": "notifications.send"}
    assert moved(before, after, "orchestrator_step_attempts_total", **send) == 2
    assert moved(before, after, "orchestrator_step_successes_total", **send) == 2
    assert (
        moved(before, after, "orchestrator_step_attempts_total", service="flights", command="flights.book")
        == 1
    )
    assert moved(before, after, "orchestrator_dead_letters_total") == 1
    # Every reply to a current attempt is timed, from its command decided to its reply handled.
    assert moved(before, after, "orchestrator_step_latency_seconds_count", command="payments.charge") == 3
    assert moved(before, after, "orchestrator_step_latency_seconds_count", command="notifications.send") == 2
    assert (
        moved(before, after, "orchestrator_process_duration_seconds_count", **trip, outcome="completed") == 1
    )
    # Seven replies and the garbage: eight messages handled.
    assert moved(before, after, "orchestrator_event_handling_seconds_count") == 8


def test_a_transition_rolled_back_counts_nothing(client: Client, open_metrics: None) -> None:
    before = scrape(client)
    # The test's transaction never commits: what was decided inside was never done.
    process_start(workflow="trip-booking", business_key="never", input=trip_input())
    after = scrape(client)
    assert moved(before, after, "orchestrator_processes_started_total", workflow="trip-booking") == 0
    assert (
        moved(
            before, after, "orchestrator_step_attempts_total", service="payments", command="payments.charge"
        )
        == 0
    )


def test_due_timers_are_counted_apart_from_overdue_ones(client: Client, open_metrics: None) -> None:
    from orchestrator.models import ProcessInstance

    due, _ = process_start(workflow="trip-booking", business_key="due", input=trip_input())
    late, _ = process_start(workflow="trip-booking", business_key="late", input=trip_input())
    process_start(workflow="trip-booking", business_key="waiting", input=trip_input())
    now = timezone.now()
    ProcessInstance.objects.filter(pk=due.pk).update(wake_at=now - timedelta(seconds=1))
    ProcessInstance.objects.filter(pk=late.pk).update(wake_at=now - timedelta(minutes=5))
    samples = scrape(client)
    assert samples[("orchestrator_timers_due", ())] == 2
    assert samples[("orchestrator_timers_overdue", ())] == 1
