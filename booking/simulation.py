"""A load generator: start many bookings at a steady rate and judge how they ended."""

from __future__ import annotations

import logging
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from django.db import close_old_connections

from booking.bookings import DEFAULT_WORKFLOW, Trip, bookings_create
from booking.ledger import money_problems
from booking.models import Booking
from booking.trip import trip_random
from orchestrator.models import ProcessInstance
from orchestrator.processes import TRANSIENT_ERRORS
from orchestrator.status import ProcessStatus

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    started: int
    total: int
    counts: Counter[str]

    @property
    def terminal(self) -> int:
        return sum(self.counts[s] for s in ProcessStatus.terminal())


@dataclass
class Report:
    total: int
    counts: Counter[str]
    latencies: list[float]  # seconds from start to end, of ended processes
    elapsed: float
    problems: list[str] = field(default_factory=list)  # money check

    @property
    def not_terminal(self) -> int:
        return self.total - sum(self.counts[s] for s in ProcessStatus.terminal())

    @property
    def ok(self) -> bool:
        return self.not_terminal == 0 and not self.problems

    def percentile(self, p: float) -> float | None:
        if not self.latencies:
            return None
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(p) - 1]


T = TypeVar("T")
START_BATCH = 100  # bookings started in one transaction at most
RETRY_FOR = 120.0  # seconds the generator keeps trying while the database is away


def patiently(action: Callable[[], T], what: str) -> T:
    """Run `action`, trying again while the database is away (a restart, a failover)."""
    deadline = time.monotonic() + RETRY_FOR
    pause = 0.2
    while True:
        try:
            return action()
        except TRANSIENT_ERRORS as exc:
            if time.monotonic() >= deadline:
                raise
            logger.warning("%s: the database is away (%s); trying again", what, exc)
            close_old_connections()
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def simulation_run(
    *,
    bookings: int,
    rate: float,
    workflow: str = DEFAULT_WORKFLOW,
    timeout: float = 300.0,
    seed: int | None = None,
    on_progress: Callable[[Progress], None] = lambda progress: None,
    poll: float = 0.25,
) -> Report:
    """1. Start `bookings` bookings, `rate` per second. 2. Wait until every process has ended or
    `timeout` seconds passed since the last start. 3. Count, time and check the money."""
    rng = random.Random(seed)
    began = time.monotonic()
    process_ids: list[Any] = []
    last_report = 0.0
    while (started := len(process_ids)) < bookings:
        now = time.monotonic()
        due = min(bookings, int((now - began) * rate) + 1) - started
        if due <= 0:
            time.sleep(min(began + started / rate - now, poll))
            continue
        # Those due at once start together, in one transaction (booking.bookings.bookings_create).
        trips = [Trip(**trip_random(rng)) for _ in range(min(due, START_BATCH))]
        created = patiently(partial(bookings_create, trips, workflow=workflow), "starting bookings")
        process_ids += [booking.process_id for booking in created]
        if now - last_report >= poll:
            on_progress(
                Progress(len(process_ids), bookings, patiently(partial(_counts, process_ids), "counting"))
            )
            last_report = now
    deadline = time.monotonic() + timeout
    while True:
        counts = patiently(lambda: _counts(process_ids), "counting")
        progress = Progress(bookings, bookings, counts)
        on_progress(progress)
        if progress.terminal == bookings or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    elapsed = time.monotonic() - began
    return patiently(lambda: _report(process_ids, counts, elapsed), "checking the outcome")


def _report(process_ids: list[Any], counts: Counter[str], elapsed: float) -> Report:
    ended = ProcessInstance.objects.filter(pk__in=process_ids, ended_at__isnull=False).values_list(
        "created_at", "ended_at"
    )
    latencies = sorted((end - start).total_seconds() for start, end in ended if start and end)
    chosen = Booking.objects.filter(process_id__in=process_ids).select_related("process")
    return Report(len(process_ids), counts, latencies, elapsed, money_problems(chosen))


def _counts(process_ids: Sequence[object]) -> Counter[str]:
    rows = ProcessInstance.objects.filter(pk__in=process_ids).values_list("status", flat=True)
    return Counter(rows)
