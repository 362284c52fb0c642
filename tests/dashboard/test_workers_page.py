"""The Workers page: a real worker is listed with its queues; queues without one, or filling up,
are named in a banner; a broker that is down never makes the panel fail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from config.celery import app
from dashboard.workers import _DEPTHS_KEY, _SEEN_KEY
from orchestrator.commands import command_queues, queues_all
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def nothing_remembered(redis_url: str) -> Iterator[None]:
    cache.delete_many([_SEEN_KEY, _DEPTHS_KEY])
    yield
    cache.delete_many([_SEEN_KEY, _DEPTHS_KEY])


def panel(client: Client) -> str:
    response = client.get(reverse("dashboard:workers_panel"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_loads_its_panel_after_itself(operator: Client) -> None:
    page = operator.get(reverse("dashboard:workers")).content.decode()
    assert f'hx-get="{reverse("dashboard:workers_panel")}"' in page
    assert 'hx-trigger="load' in page


@pytest.mark.slow
@pytest.mark.workers
def test_a_running_worker_is_listed_with_its_queues(
    celery_worker_process: WorkerProcess, operator: Client
) -> None:
    html = wait_until(
        lambda: text if "test-worker@" in (text := panel(operator)) else "",
        30,
        "the worker to answer",
        every=0.5,
    )
    assert ", ".join(sorted(queues_all())) in html
    for queue in queues_all():
        assert f'data-queue="{queue}"' in html
    assert "No consumer" not in html
    assert "No answer within" not in html


def test_without_a_worker_the_banner_names_every_queue(operator: Client) -> None:
    html = panel(operator)
    assert "No answer within 1 s" in html
    assert f"<strong>No consumer</strong> on: {', '.join(queues_all())}." in html
    assert "broker does not answer" not in html


def test_a_backlog_deeper_than_at_the_previous_look_is_named(operator: Client, redis_url: str) -> None:
    broker = redis.Redis.from_url(str(app.conf.broker_url))
    queue = command_queues()[-1]
    broker.delete(queue)
    try:
        assert "Backlog growing" not in panel(operator)
        broker.rpush(queue, b"not-a-message", b"not-a-message")
        html = panel(operator)
        assert f"<strong>Backlog growing</strong> since the previous look on: {queue}." in html
        assert "Backlog growing" not in panel(operator)  # as deep as at the previous look
    finally:
        broker.delete(queue)


def test_a_broker_that_is_down_gives_a_page_that_says_so(
    operator: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens there
    started = time.monotonic()
    html = panel(operator)
    assert time.monotonic() - started < 5
    assert "The broker does not answer" in html
    assert "No answer within 1 s" in html
    assert operator.get(reverse("dashboard:workers")).status_code == 200


def test_embedded_mode_has_nobody_to_ask_and_no_alarm(operator: Client, settings: Any) -> None:
    settings.EMBEDDED_WORKERS = True
    html = panel(operator)
    assert "Embedded mode: the workers are threads of the web process" in html
    assert "No consumer" not in html and "No answer within" not in html
