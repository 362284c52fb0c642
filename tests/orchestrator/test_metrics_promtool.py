"""Prometheus's own linter accepts /metrics, in one process and summed over several."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from orchestrator.processes import process_start
from tests.support.engine import SentTasks, answer, last_command, reply_take, trip_input
from tests.support.metrics import record_in_a_process, scrape_text
from tests.support.services import service_missing

pytestmark = pytest.mark.usefixtures("trip_workflows")


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        service_missing("promtool", "not on PATH (Debian: apt-get install prometheus)")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def open_metrics(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.RUN_MODE = "embedded"


def test_promtool_accepts_a_scrape_after_work(
    client: Client,
    open_metrics: None,
    monkeypatch: pytest.MonkeyPatch,
    sent_tasks: SentTasks,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with django_capture_on_commit_callbacks(execute=True):
        process, _ = process_start(workflow="trip-booking", business_key="lint", input=trip_input())
        answer(last_command(process, "payment"))
        answer(last_command(process, "flight"), succeeded=False, business=True)
        reply_take("garbage")
    text = scrape_text(client)
    assert "orchestrator_step_business_failures_total{" in text  # labelled samples are in it
    promtool_check(text)


def test_promtool_accepts_a_scrape_summed_over_processes(
    client: Client, open_metrics: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record_in_a_process(tmp_path, 2)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = scrape_text(client)
    assert "orchestrator_processes_started_total{" in text
    promtool_check(text)
