"""Lost messages, killed workers and garbage on the queue: processes are delayed, never stranded."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings

from booking.bookings import booking_create
from booking.demo import trip_steps
from booking.faults import faults_set
from booking.models import Booking, Charge
from config.celery import app
from orchestrator.definitions import definition_save
from orchestrator.models import DeadLetter
from orchestrator.models import Event as EventRow
from tests.support.workers import BeatProcess, WorkerProcess, stop_all

ROOT = Path(__file__).resolve().parents[2]
FAST = "trip-fast-timeouts"  # the trip with 2 s step timeouts, so that recovery is quick to watch

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll the database until `condition` holds (the workers are other processes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Cluster:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: dict[str, WorkerProcess] = {}

    def start(self, name: str) -> None:
        if name == "beat":
            process: WorkerProcess = BeatProcess(env=self.env, python=sys.executable, cwd=ROOT)
        else:
            process = WorkerProcess(env=self.env, python=sys.executable, cwd=ROOT, queues=(name,), name=name)
        process.start()
        self.processes[name] = process

    def kill(self, name: str) -> None:
        self.processes.pop(name).kill()

    def stop_all(self) -> None:
        stop_all(list(self.processes.values()))


@pytest.fixture
def cluster(production_env: dict[str, str]) -> Iterator[Cluster]:
    definition_save(
        name=FAST, version=1, description="", steps=trip_steps(parallel=False, timeout=2.0), activate=True
    )
    for service in settings.SERVICE_QUEUES:
        faults_set(service, technical_rate=0.0, business_rate=0.0)
    running = Cluster(production_env)
    running.start(settings.ORCHESTRATOR_QUEUE)
    running.start("beat")
    yield running
    running.stop_all()


def book(n: int) -> list[Booking]:
    return [
        booking_create(
            customer_name="Ada Lovelace",
            customer_email="ada@example.com",
            itinerary={"origin": "CDG"},
            amount=Decimal("100.00"),
            currency="EUR",
            workflow=FAST,
        )
        for _ in range(n)
    ]


def statuses(bookings: list[Booking]) -> set[str]:
    rows = Booking.objects.filter(pk__in=[b.pk for b in bookings]).values_list("process__status", flat=True)
    return {status for status in rows if status}


def test_a_broker_that_loses_every_queued_message_only_delays_the_processes(cluster: Cluster) -> None:
    queue = redis.Redis.from_url(cluster.env["REDIS_URL"])
    bookings = book(5)
    wait_until(lambda: queue.llen("payments") == 5, 10, "the charges to be queued")
    queue.flushdb()  # Redis keeps nothing on disk: a restart loses every queued message like this
    for service in settings.SERVICE_QUEUES:
        cluster.start(service)
    wait_until(lambda: statuses(bookings) == {"completed"}, 60, "every booking to complete")
    assert EventRow.objects.filter(type="step.timed_out", step="payment").count() == 5
    assert Charge.objects.filter(status="charged").count() == 5


def test_a_worker_killed_mid_command_only_delays_the_process(cluster: Cluster) -> None:
    for service in settings.SERVICE_QUEUES:
        cluster.start(service)
    faults_set("payments", latency_ms=1500)  # long enough to kill the worker while it works
    queue = redis.Redis.from_url(cluster.env["REDIS_URL"])
    (booking,) = book(1)
    wait_until(lambda: queue.hlen("unacked") == 1, 10, "the payments worker to take the charge")
    cluster.kill("payments")  # SIGKILL, as the OOM killer does
    faults_set("payments", latency_ms=0)
    cluster.start("payments")
    wait_until(lambda: statuses([booking]) == {"completed"}, 60, "the booking to complete")
    assert Charge.objects.filter(status="charged").count() == 1


def test_garbage_on_the_orchestrator_queue_is_kept_and_the_worker_goes_on(cluster: Cluster) -> None:
    for service in settings.SERVICE_QUEUES:
        cluster.start(service)
    for body in ("not json at all", {"message_id": "x"}, {"type": "step.succeeded", "process_id": "nope"}):
        app.send_task("orchestrator.event", args=(body,), queue=settings.ORCHESTRATOR_QUEUE)
    (booking,) = book(1)
    wait_until(lambda: statuses([booking]) == {"completed"}, 30, "the booking to complete")
    wait_until(lambda: DeadLetter.objects.count() == 3, 10, "three dead letters")
    assert all(letter.reason.startswith("malformed message") for letter in DeadLetter.objects.all())
