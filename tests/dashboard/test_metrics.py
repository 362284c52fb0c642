"""/metrics: the numbers on-call alerts on, in Prometheus's text format."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from orchestrator.models import ProcessInstance
from orchestrator.processes import process_start
from tests.support.engine import reply_take, trip_input

pytestmark = pytest.mark.usefixtures("trip_workflows")


def test_metrics_count_what_needs_attention(client: Client, settings: object) -> None:
    settings.METRICS_TOKEN = ""  # type: ignore[attr-defined]
    settings.RUN_MODE = "embedded"  # type: ignore[attr-defined]
    process_start(workflow="trip-booking", business_key="a", input=trip_input())
    stuck, _ = process_start(workflow="trip-booking", business_key="b", input=trip_input())
    ProcessInstance.objects.filter(pk=stuck.pk).update(wake_at=timezone.now() - timedelta(minutes=5))
    reply_take("garbage")
    text = client.get("/metrics").content.decode()
    assert 'orchestrator_processes{status="running",workflow="trip-booking"} 2.0' in text
    assert "orchestrator_timers_overdue 1.0" in text
    assert "orchestrator_outbox_unpublished 2.0" in text  # no broker ran in this test
    assert "orchestrator_dead_letters_last_hour 1.0" in text
    assert "orchestrator_processes_waiting_for_operator 0.0" in text


def test_metrics_can_require_a_token(client: Client, settings: object) -> None:
    settings.METRICS_TOKEN = "s3cret"  # type: ignore[attr-defined]
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_a_strange_token_is_refused_not_a_crash(client: Client, settings: object) -> None:
    settings.METRICS_TOKEN = "s3cret"  # type: ignore[attr-defined]
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer é").status_code == 401


def test_production_mode_serves_no_metrics_without_a_token(client: Client, settings: object) -> None:
    settings.RUN_MODE = "production"  # type: ignore[attr-defined]
    settings.METRICS_TOKEN = ""  # type: ignore[attr-defined]
    response = client.get("/metrics")
    assert response.status_code == 403 and b"set METRICS_TOKEN" in response.content
    assert b"orchestrator_processes" not in response.content
