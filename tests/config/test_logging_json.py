"""Production mode writes one JSON object a line, embedded mode readable lines; both carry the
process, step and attempt being worked on."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from orchestrator.processes import process_start
from tests.support.engine import answer, last_command, trip_input

ROOT = Path(__file__).resolve().parents[2]
LOG_A_LINE = """
import logging

import django

django.setup()
from config.logging import process_context

with process_context("p-1", step="payment", attempt=2):
    logging.getLogger("orchestrator.test").warning("hello")
"""
MODE_VARIABLES = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "LOG_FORMAT", "DEBUG"}
PRODUCTION = {
    "DATABASE_URL": "postgres://app:db-password@db.internal:5432/orchestrator",
    "REDIS_URL": "redis://:redis-password@cache.internal:6379/2",
    "SECRET_KEY": "a-long-random-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
}


def log_a_line(tmp_path: Path, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in MODE_VARIABLES}
    base.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path / "var"), **env)
    done = subprocess.run(
        [sys.executable, "-c", LOG_A_LINE], env=base, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_production_mode_writes_json_lines(tmp_path: Path) -> None:
    line = json.loads(log_a_line(tmp_path, **PRODUCTION))
    assert line["message"] == "hello" and line["level"] == "WARNING" and line["logger"] == "orchestrator.test"
    assert (line["process_id"], line["step"], line["attempt"]) == ("p-1", "payment", 2)
    assert line["time"].endswith("+00:00")
    assert "process_tag" not in line


def test_embedded_mode_writes_readable_lines(tmp_path: Path) -> None:
    line = log_a_line(tmp_path, SECRET_KEY="x")
    assert line.endswith("WARNING orchestrator.test [process=p-1 step=payment attempt=2] hello")


def test_log_format_can_be_chosen(tmp_path: Path) -> None:
    assert log_a_line(tmp_path, **PRODUCTION, LOG_FORMAT="line").endswith("] hello")


@pytest.fixture
def production_lines() -> Iterator[io.StringIO]:
    """The engine's records, through the handler production mode configures, into a buffer."""
    config: dict[str, Any] = settings.LOGGING
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(import_string(config["formatters"]["json"]["()"])())
    handler.addFilter(import_string(config["filters"]["process_context"]["()"])())
    engine = logging.getLogger("orchestrator")
    level = engine.level
    engine.addHandler(handler)
    engine.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        engine.removeHandler(handler)
        engine.setLevel(level)


def test_a_handled_reply_logs_its_process_step_and_attempt(
    trip_workflows: None, production_lines: io.StringIO
) -> None:
    process, _ = process_start(workflow="trip-booking", business_key="log", input=trip_input())
    answer(last_command(process, "payment"), succeeded=False, business=True)
    lines = [json.loads(text) for text in production_lines.getvalue().splitlines()]
    refused = next(line for line in lines if "business failure" in line["message"])
    assert (refused["process_id"], refused["step"], refused["attempt"]) == (str(process.pk), "payment", 1)
    compensating = next(line for line in lines if line["message"] == "process running -> compensating")
    assert (compensating["process_id"], compensating["step"], compensating["attempt"]) == (
        str(process.pk),
        "payment",
        1,
    )
