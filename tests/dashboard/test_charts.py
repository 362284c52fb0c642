"""The Metrics page's figures agree with what the database holds after a known run."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from orchestrator.models import HistoryEntry, Outbox, ProcessInstance
from orchestrator.processes import process_start
from tests.support.engine import answer, last_command, trip_input
from tests.support.people import user_with

pytestmark = pytest.mark.usefixtures("trip_workflows")


def start(key: str) -> ProcessInstance:
    process, created = process_start(workflow="trip-booking", business_key=key, input=trip_input(key))
    assert created
    return process


def known_run() -> None:
    """Four trips: every payment answered once, the second and fourth with a technical failure
    (retried later); the first trip's flight too, successfully."""
    processes = [start(f"TRP-CHART{i}") for i in range(4)]
    for i, process in enumerate(processes):
        answer(last_command(process, "payment"), succeeded=i % 2 == 0)
    answer(last_command(processes[0], "flight"))


def data(client: Client, range_key: str = "1h") -> dict:
    response = client.get(reverse("dashboard:charts_data"), {"range": range_key})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_figures_are_the_counts_of_the_database(operator: Client) -> None:
    known_run()
    figures = data(operator)

    assert figures["throughput"]["started_total"] == ProcessInstance.objects.count() == 4
    assert sum(figures["throughput"]["started"]) == 4
    assert figures["throughput"]["ended_total"] == 0
    assert len(figures["minutes"]) == len(figures["throughput"]["started"])

    replies = HistoryEntry.objects.filter(type__in=["step.succeeded", "step.failed"])
    payments = figures["failure_rate"]["payments"]
    assert (payments["failed"], payments["attempts"]) == (2, 4)
    assert payments["rate"] == 0.5
    assert figures["failure_rate"]["flights"] == {
        **figures["failure_rate"]["flights"],
        "failed": 0,
        "attempts": 1,
    }
    assert sum(f["attempts"] for f in figures["failure_rate"].values()) == replies.count() == 5

    latency = figures["latency_ms"]
    assert latency["payment"]["n"] == 4 and latency["flight"]["n"] == 1
    assert 0 <= latency["payment"]["p50"] <= latency["payment"]["p95"] <= latency["payment"]["p99"]

    unpublished = Outbox.objects.filter(published_at__isnull=True, discarded_at__isnull=True).count()
    assert figures["backlog"]["now"] == {"outbox_unpublished": unpublished, "waiting_for_operator": 0}
    assert figures["backlog"]["outbox_unpublished"][-1] == unpublished


def test_latency_is_the_time_from_command_to_reply(operator: Client) -> None:
    process = start("TRP-LATENCY")
    command = last_command(process, "payment")
    answer(command)
    sent = Outbox.objects.get(message_id=command.message_id).created_at
    replied = HistoryEntry.objects.get(process=process, type="step.succeeded").created_at
    expected = round((replied - sent).total_seconds() * 1000, 1)
    assert data(operator, "15m")["latency_ms"]["payment"] == {
        "n": 1,
        "p50": expected,
        "p95": expected,
        "p99": expected,
    }


def test_an_empty_range_has_zeroes_not_errors(operator: Client) -> None:
    figures = data(operator, "24h")
    assert figures["throughput"]["started_total"] == 0
    assert figures["failure_rate"] == {} and figures["latency_ms"] == {}
    assert len(figures["minutes"]) in (1440, 1441)


@pytest.mark.parametrize("bad", ["", "2h", "1h; drop table", "x" * 300])
def test_a_bad_range_is_a_400(operator: Client, bad: str) -> None:
    response = operator.get(reverse("dashboard:charts_data"), {"range": bad})
    assert response.status_code == 400
    assert "range must be one of" in response.json()["detail"]


def test_the_page_needs_the_dashboard_permission(operator: Client, db: None) -> None:
    assert operator.get(reverse("dashboard:charts")).status_code == 200
    stranger = user_with("sam", permissions=[])
    assert stranger.get(reverse("dashboard:charts")).status_code == 403
    assert stranger.get(reverse("dashboard:charts_data")).status_code == 403
    assert Client().get(reverse("dashboard:charts_data")).status_code == 302
