"""Several processes (web, workers) write their counters into one PROMETHEUS_MULTIPROC_DIR: a
scrape sums them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from config.celery import app
from orchestrator.broker import broker_url
from tests.support.metrics import record_in_a_process, scrape

pytestmark = pytest.mark.django_db


def test_a_scrape_sums_what_every_process_counted(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings.METRICS_TOKEN = ""
    settings.RUN_MODE = "embedded"
    record_in_a_process(tmp_path, 2)
    record_in_a_process(tmp_path, 3)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2, "one file per process"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = scrape(client)
    trip = (("workflow", "trip-booking"),)
    completed = (("outcome", "completed"), ("workflow", "trip-booking"))
    assert samples[("orchestrator_processes_started_total", trip)] == 5
    assert samples[("orchestrator_processes_ended_total", completed)] == 5
    charge = (("command", "payments.charge"), ("service", "payments"))
    assert samples[("orchestrator_step_attempts_total", charge)] == 5
    assert samples[("orchestrator_process_duration_seconds_count", completed)] == 5
    assert samples[("orchestrator_process_duration_seconds_sum", completed)] == 10.0
    assert samples[("orchestrator_process_duration_seconds_bucket", (("le", "2.5"), *completed))] == 5
    assert samples[("orchestrator_event_handling_seconds_count", ())] == 5
    # The database's gauges are still there beside them.
    assert ("orchestrator_timers_due", ()) in samples


def test_queue_depths_come_from_the_broker(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    settings.METRICS_TOKEN = ""
    settings.RUN_MODE = "embedded"
    if not broker_url().startswith("redis"):
        pytest.skip("this test reads a Redis broker")
    queue = "metrics-test-queue"
    monkeypatch.setattr("orchestrator.broker.queues_all", lambda: [queue])
    broker = redis.Redis.from_url(broker_url())
    broker.delete(queue, f"{queue}\x06\x163")
    try:
        broker.rpush(queue, "a", "b", "c")
        broker.rpush(f"{queue}\x06\x163", "d")  # kombu's list for priority 3
        assert scrape(client)[("orchestrator_queue_depth", (("queue", queue),))] == 4
    finally:
        broker.delete(queue, f"{queue}\x06\x163")


def test_a_broker_away_leaves_the_depths_out_not_the_scrape(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.METRICS_TOKEN = ""
    settings.RUN_MODE = "embedded"
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens there
    samples = scrape(client)
    assert not [name for name, _ in samples if name == "orchestrator_queue_depth"]
    assert ("orchestrator_timers_due", ()) in samples
