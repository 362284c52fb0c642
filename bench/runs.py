"""Runs of the engine the bench and its curves share: N bookings at once, one at a time, and who
used the CPU."""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm

from bench.measure import percentile
from bench.world import WORKFLOW
from chaos.infra import Stack


def worker_pids(stack: Stack) -> dict[str, list[int]]:
    roles: dict[str, list[int]] = {"orchestrator": [], "services": [], "beat": [], "web": []}
    for name in stack.names():
        program = name.split(":")[0]
        role = program if program in roles else "services"
        roles[role].append(stack.pid(name))
    return roles


def percentiles(seconds: list[float]) -> dict[str, float]:
    return {f"p{p}": 1000 * percentile(seconds, p) for p in (50, 95, 99)}


def bar(total: int, title: str) -> tqdm[Any]:
    """A progress bar on a terminal; nothing in a log (no carriage returns in files)."""
    return tqdm(total=total, desc=title, unit="", leave=False, disable=not sys.stderr.isatty())


def engine_saturated(count: int, title: str) -> tuple[list[float], float]:
    from booking.simulation import simulation_run
    from orchestrator.models import ProcessInstance

    with bar(count, title) as progress:

        def shown(state: Any) -> None:
            progress.n = state.terminal
            progress.refresh()

        report = simulation_run(
            bookings=count, rate=100_000, workflow=WORKFLOW, timeout=600, on_progress=shown, poll=1.0
        )
    if not report.ok:
        raise SystemExit(f"bench: the engine did not finish cleanly: {report.counts}, {report.problems[:3]}")
    ids = ProcessInstance.objects.order_by("-created_at").values_list("created_at", "ended_at")[:count]
    first = min(created for created, _ in ids)
    last = max(ended for _, ended in ids if ended is not None)
    return report.latencies, count / (last - first).total_seconds()


def engine_alone(count: int, title: str) -> list[float]:
    """One booking at a time, each started once the one before ended; latency from the database's
    own times (start and end of the process), so the waiting here does not count. The wait looks
    every 10 ms: looking more often only took CPU from the engine it measures (two cores)."""
    import random

    from booking.bookings import booking_create
    from booking.trip import trip_random
    from orchestrator.models import ProcessInstance

    rng = random.Random(11)
    latencies = []
    with bar(count, title) as progress:
        for _ in range(count):
            booking = booking_create(workflow=WORKFLOW, **trip_random(rng))
            assert booking.process_id is not None
            row = ProcessInstance.objects.filter(pk=booking.process_id).values_list("created_at", "ended_at")
            deadline = time.monotonic() + 60
            while (times := row.first()) is not None and times[1] is None:
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: booking {booking.reference} alone did not end in 60 s")
                time.sleep(0.01)
            assert times is not None and times[1] is not None
            latencies.append((times[1] - times[0]).total_seconds())
            progress.update()
    return latencies
