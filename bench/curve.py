"""Throughput curves, each drawn as a PNG for docs/performance.md.

    python -m bench.curve workers --counts 1,2,4 --latency-ms 20
    python -m bench.curve history --processes 0,100000,400000
    python -m bench.curve memory --bookings 2000 --batches 10

`workers`: bookings/s against orchestrator worker processes, every service answering after
`--latency-ms` (waiting, not computing) with enough service processes that they are not the limit.
`history`: bookings/s against the history already stored, filled by `seed_history` between points.
`memory`: the workers' resident memory after each batch of bookings.
Each point starts the production layout afresh and runs `--bookings` at once; the last line is one
JSON object with the points.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.measure import cpu_snapshot, machine_busy_seconds, resident_mb
from bench.runs import engine_saturated, percentiles, worker_pids
from bench.world import World, bench_queues, world
from chaos.infra import ROOT
from orchestrator.management.commands.worker_layout import processes_variable

CHARTS = ROOT / "docs" / "img"


@dataclass
class Point:
    x: int
    bookings_per_s: float
    latency_ms: dict[str, float]
    cpu_cores_busy: float  # the whole machine's, during the run
    cpu_ms_per_booking: dict[str, float] = field(default_factory=dict)
    history_events: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)  # by role, summed over its processes


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.curve", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bookings", type=int, default=1000, help="bookings at once, per point")
    common.add_argument("--keep", action="store_true", help="leave the bench folder for a look")
    curves = parser.add_subparsers(dest="curve", required=True)
    workers = curves.add_parser("workers", parents=[common], help="throughput against orchestrator processes")
    workers.add_argument("--counts", default="1,2,4", help="orchestrator processes, comma-separated")
    workers.add_argument("--latency-ms", type=int, default=20, help="every service's answer time")
    workers.add_argument("--per-queue", type=int, default=3, help="service processes per trip queue")
    history = curves.add_parser("history", parents=[common], help="throughput against stored history")
    history.add_argument("--processes", default="0,100000,400000", help="seeded processes at each point")
    memory = curves.add_parser("memory", parents=[common], help="workers' resident memory as bookings go by")
    memory.add_argument("--batches", type=int, default=10, help="runs of --bookings, memory read after each")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(143))

    latency = options.latency_ms if options.curve == "workers" else 0
    with world(keep=options.keep, latency_ms=latency) as bench:
        if options.curve == "workers":
            points = workers_curve(bench, options)
            title = f"bookings/s against orchestrator processes (services answer in {latency} ms)"
            chart(points, "orchestrator worker processes", title, CHARTS / "bench-workers.png")
        elif options.curve == "memory":
            points = memory_curve(bench, options)
            title = "resident memory of the workers (MB) as bookings go by"
            path = CHARTS / "bench-memory.png"
            chart(points, "bookings handled (thousands)", title, path, scale=1e-3, y="rss")
        else:
            points = history_curve(bench, options)
            title = "bookings/s against history already stored"
            chart(points, "history events stored (millions)", title, CHARTS / "bench-history.png", scale=1e-6)
    summary = {"curve": options.curve, "bookings": options.bookings, "points": [asdict(p) for p in points]}
    print(json.dumps(summary), flush=True)
    return 0


def workers_curve(bench: World, options: argparse.Namespace) -> list[Point]:
    points = []
    for count in (int(n) for n in options.counts.split(",")):
        bench.stack_start(
            f"stack-{count}",
            WORKER_LAYOUT="per-queue",
            ORCHESTRATOR_WORKERS=str(count),
            **{processes_variable(queue): str(options.per_queue) for queue in bench_queues()},
        )
        point = measured(bench, count, options.bookings, f"{count} orchestrator(s)")
        points.append(point)
        say(point, f"{count} orchestrator process(es)")
    return points


def history_curve(bench: World, options: argparse.Namespace) -> list[Point]:
    from django.core.management import call_command

    points = []
    seeded = 0
    for target in (int(n) for n in options.processes.split(",")):
        bench.stack_stop()  # seeding is not measured
        if target > seeded:
            call_command("seed_history", processes=target - seeded, seed=target)
            seeded = target
            timers_park()
        bench.stack_start(f"stack-{target}", WORKER_LAYOUT="compact")
        point = measured(bench, history_events(), options.bookings, f"{target} seeded")
        point.history_events = point.x
        points.append(point)
        say(point, f"{point.history_events} history events stored")
    return points


def memory_curve(bench: World, options: argparse.Namespace) -> list[Point]:
    """The compact layout run for `--batches` x `--bookings`, the workers' resident memory read
    after a first warm-up batch and after each batch: a leak shows as a line that keeps rising."""
    stack = bench.stack_start("stack", WORKER_LAYOUT="compact")
    points = []
    done = 0
    for batch in range(options.batches + 1):
        point = measured(bench, done, options.bookings, f"batch {batch} of {options.batches}")
        done += options.bookings
        point.x = done
        point.rss_mb = {
            role: round(sum(resident_mb(pid) for pid in pids), 1)
            for role, pids in worker_pids(stack).items()
            if role in ("orchestrator", "services")
        }
        points.append(point)
        say(point, f"after {done} bookings, {point.rss_mb} MB resident")
    return points


def timers_park() -> None:
    """The seeded processes still at work would time out and retry during the point, measuring
    their work rather than the cost of stored history: their timers are cleared."""
    from orchestrator.models import ProcessInstance

    ProcessInstance.objects.filter(ended_at__isnull=True).update(wake_at=None)


def measured(bench: World, x: int, bookings: int, title: str) -> Point:
    assert bench.stack is not None
    roles = worker_pids(bench.stack)
    servers = {
        "postgres": bench.postgres.postmaster_pid(),
        "redis": bench.redis.process.pid if bench.redis.process else 0,
    }
    before, busy_before = cpu_snapshot(roles, servers), machine_busy_seconds()
    latencies, per_s = engine_saturated(bookings, title)
    used = cpu_snapshot(roles, servers).minus(before)
    busy = machine_busy_seconds() - busy_before
    wall = bookings / per_s
    return Point(
        x=x,
        bookings_per_s=round(per_s, 1),
        latency_ms={p: round(ms, 1) for p, ms in percentiles(latencies).items()},
        cpu_cores_busy=round(busy / wall, 2),
        cpu_ms_per_booking={role: round(1000 * s / bookings, 1) for role, s in used.items()},
    )


def history_events() -> int:
    from orchestrator.models import HistoryEntry

    return HistoryEntry.objects.count()


def say(point: Point, label: str) -> None:
    print(
        f"{label}: {point.bookings_per_s} bookings/s, p50 {point.latency_ms['p50']} ms, "
        f"{point.cpu_cores_busy} cores busy",
        flush=True,
    )


def chart(
    points: list[Point], xlabel: str, title: str, path: Path, *, scale: float = 1.0, y: str = "throughput"
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: straight to a file
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    xs = [p.x * scale for p in points]
    if y == "rss":
        for role in points[0].rss_mb:
            axes.plot(xs, [p.rss_mb[role] for p in points], marker="o", label=role)
        axes.legend()
        axes.set_ylabel("resident MB")
        top = max(max(p.rss_mb.values()) for p in points)
    else:
        ys = [p.bookings_per_s for p in points]
        axes.plot(xs, ys, marker="o")
        for x, value, point in zip(xs, ys, points, strict=True):
            label = f"{value:g}/s, {point.cpu_cores_busy:g} cores"
            axes.annotate(label, (x, value), textcoords="offset points", xytext=(4, 6))
        axes.set_ylabel("bookings/s")
        top = max(ys)
    axes.set_xticks(xs)
    axes.set_xlabel(xlabel)
    axes.set_ylim(bottom=0, top=top * 1.25)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    print(f"chart: {path.relative_to(ROOT)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
