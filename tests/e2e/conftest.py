"""Clusters of real worker processes for the end-to-end tests, and what they share."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from booking.bookings import booking_create
from booking.demo import trip_steps
from booking.faults import faults_set
from booking.models import Booking
from booking.services.registry import service_names
from orchestrator.definitions import definition_save
from tests.support.workers import BeatProcess, WorkerProcess, stop_all

ROOT = Path(__file__).resolve().parents[2]
FAST = "trip-fast-timeouts"  # the trip with 2 s step timeouts, so that recovery is quick to watch


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

    def start(self, name: str, *, queues: tuple[str, ...] | None = None) -> None:
        """Start `beat`, or a worker named `name` consuming `queues` (the queue `name` by default)."""
        if name == "beat":
            process: WorkerProcess = BeatProcess(env=self.env, python=sys.executable, cwd=ROOT)
        else:
            process = WorkerProcess(
                env=self.env, python=sys.executable, cwd=ROOT, queues=queues or (name,), name=name
            )
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
    for service in service_names():
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
