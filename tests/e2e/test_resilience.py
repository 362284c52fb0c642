"""Lost messages, killed workers and garbage on the queue: processes are delayed, never stranded."""

from __future__ import annotations

import pytest
from django.conf import settings

from booking.faults import faults_set
from booking.models import Charge
from booking.services.registry import service_names
from config.celery import app
from orchestrator.commands import queues_all
from orchestrator.models import DeadLetter, HistoryEntry, Outbox
from tests.support.bookings import FAST_TRIP, book_many, statuses
from tests.support.services import broker_purge, broker_waiting
from tests.support.waiting import wait_until
from tests.support.workers import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.workers]


def test_a_broker_that_loses_every_queued_message_only_delays_the_processes(cluster: Cluster) -> None:
    bookings = book_many(5, FAST_TRIP)
    wait_until(lambda: broker_waiting("payments") == 5, 10, "the charges to be queued")
    broker_purge(queues_all())  # as a broker restart without persistence loses them
    for service in service_names():
        cluster.start(service)
    wait_until(lambda: statuses(bookings) == {"completed"}, 60, "every booking to complete")
    assert HistoryEntry.objects.filter(type="step.timed_out", step="payment").count() == 5
    assert Charge.objects.filter(status="charged").count() == 5


def test_a_worker_killed_mid_command_only_delays_the_process(cluster: Cluster) -> None:
    for service in service_names():
        cluster.start(service)
    faults_set("payments", latency_ms=1500)  # long enough to kill the worker while it works
    (booking,) = book_many(1, FAST_TRIP)
    wait_until(
        lambda: Outbox.objects.filter(published_at__isnull=False).exists(), 10, "the charge to be sent"
    )
    wait_until(lambda: broker_waiting("payments") == 0, 10, "the payments worker to take the charge")
    cluster.kill("payments")  # SIGKILL, as the OOM killer does
    faults_set("payments", latency_ms=0)
    cluster.start("payments")
    wait_until(lambda: statuses([booking]) == {"completed"}, 60, "the booking to complete")
    assert Charge.objects.filter(status="charged").count() == 1


def test_garbage_on_the_orchestrator_queue_is_kept_and_the_worker_goes_on(cluster: Cluster) -> None:
    for service in service_names():
        cluster.start(service)
    for body in ("not json at all", {"message_id": "x"}, {"type": "step.succeeded", "process_id": "nope"}):
        app.send_task("orchestrator.event", args=(body,), queue=settings.ORCHESTRATOR_QUEUE)
    (booking,) = book_many(1, FAST_TRIP)
    wait_until(lambda: statuses([booking]) == {"completed"}, 30, "the booking to complete")
    wait_until(lambda: DeadLetter.objects.count() == 3, 10, "three dead letters")
    assert all(letter.reason.startswith("malformed message") for letter in DeadLetter.objects.all())
