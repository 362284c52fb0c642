"""The engine against a bare Celery chain, side by side on this machine (`make bench`).

Starts the production layout (supervisord: web, workers, beat) on a private PostgreSQL and Redis,
with every service at zero faults and zero latency, and two solo workers for the bare chain on the
same Redis. Then, alternating, for each round: the engine saturated (N bookings at once) and one
booking at a time, and the bare 8-hop chain saturated and one at a time. Prints each round, the
medians (min-max), and last a JSON line with `throughput_ratio` and `latency_ratio`.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import spread
from bench.runs import bar, engine_alone, engine_saturated, percentiles, worker_pids
from bench.world import HARNESS_USER, bench_steps, world
from chaos.infra import ROOT, Postgres, Redis, Stack


@dataclass
class Round:
    engine_per_s: float = 0.0
    engine_ms: dict[str, float] = field(default_factory=dict)  # p50/p95/p99 saturated
    engine_alone_ms: dict[str, float] = field(default_factory=dict)
    chain_per_s: float = 0.0
    chain_ms: dict[str, float] = field(default_factory=dict)
    chain_alone_ms: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_booking: dict[str, float] = field(default_factory=dict)
    queries_per_step: float = 0.0
    transactions_per_step: float = 0.0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=2000, help="saturated: bookings per round")
    parser.add_argument("--alone", type=int, default=50, help="one at a time: bookings per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layout", choices=["per-queue", "compact"], default="compact")
    parser.add_argument("--orchestrators", type=int, default=1, help="orchestrator worker processes")
    parser.add_argument("--keep", action="store_true", help="leave the bench folder for a look")
    options = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(143))
    chain_workers: list[subprocess.Popen[bytes]] = []
    with world(keep=options.keep) as bench:
        try:
            stack = bench.stack_start(
                "stack", WORKER_LAYOUT=options.layout, ORCHESTRATOR_WORKERS=str(options.orchestrators)
            )
            chain_workers = [chain_worker(bench.env, n, bench.folder) for n in range(2)]
            rounds = [
                one_round(n, options, stack, bench.postgres, bench.redis) for n in range(options.rounds)
            ]
            report(rounds, options)
        finally:
            for worker in chain_workers:
                worker.terminate()
                worker.wait(30)
    return 0


def say(text: str) -> None:
    print(text, flush=True)


def chain_worker(env: dict[str, str], n: int, folder: Path) -> subprocess.Popen[bytes]:
    log = (folder / f"chain-{n}.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "bench.chain",
            "worker",
            "--pool",
            "solo",
            "--queues",
            "bench-chain",
            "--hostname",
            f"chain-{n}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


# --- one round -------------------------------------------------------------------------------


def one_round(n: int, options: argparse.Namespace, stack: Stack, postgres: Postgres, redis: Redis) -> Round:
    from bench.measure import cpu_snapshot

    result = Round()
    roles = worker_pids(stack)
    servers = {"postgres": postgres.postmaster_pid(), "redis": redis.process.pid if redis.process else 0}
    stats_reset()
    before = cpu_snapshot(roles, servers)
    harness_before = time.process_time()
    latencies, per_s = engine_saturated(
        options.bookings, f"round {n + 1}: engine, {options.bookings} at once"
    )
    used = cpu_snapshot(roles, servers).minus(before)
    used["harness"] = time.process_time() - harness_before
    result.cpu_ms_per_booking = {role: 1000 * s / options.bookings for role, s in used.items()}
    queries, commits = stats_read()
    steps = options.bookings * bench_steps()
    result.queries_per_step, result.transactions_per_step = queries / steps, commits / steps
    result.engine_per_s, result.engine_ms = per_s, percentiles(latencies)
    result.engine_alone_ms = percentiles(engine_alone(options.alone, f"round {n + 1}: engine, one at a time"))
    chain_latencies, chain_per_s = chain_saturated(options.bookings, f"round {n + 1}: bare chain, at once")
    result.chain_per_s, result.chain_ms = chain_per_s, percentiles(chain_latencies)
    result.chain_alone_ms = percentiles(
        chain_alone(options.alone, f"round {n + 1}: bare chain, one at a time")
    )
    say(
        f"round {n + 1}: engine {result.engine_per_s:.1f} bookings/s, alone p50 "
        f"{result.engine_alone_ms['p50']:.1f} ms; chain {result.chain_per_s:.1f} chains/s, alone p50 "
        f"{result.chain_alone_ms['p50']:.1f} ms"
    )
    return result


def chain_saturated(count: int, title: str) -> tuple[list[float], float]:
    from bench.chain import chain_start, chains_reset, chains_wait

    chains_reset()
    for _ in range(count):
        chain_start()
    done: list[tuple[float, float]] = []
    with bar(count, title) as progress:
        while len(done) < count:
            batch = chains_wait(min(50, count - len(done)), timeout=300)
            done += batch
            progress.update(len(batch))
    first, last = min(s for s, _ in done), max(e for _, e in done)
    return [e - s for s, e in done], count / (last - first)


def chain_alone(count: int, title: str) -> list[float]:
    from bench.chain import chain_start, chains_reset, chains_wait

    chains_reset()
    latencies = []
    with bar(count, title) as progress:
        for _ in range(count):
            chain_start()
            ((started, ended),) = chains_wait(1, timeout=60)
            latencies.append(ended - started)
            progress.update()
    return latencies


# --- the database's own counts ----------------------------------------------------------------


def stats_reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_statements_reset()")


def stats_read() -> tuple[int, int]:
    """(statements, commits) the stack ran since the reset, the harness's own left out."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(sum(s.calls) FILTER (WHERE s.query NOT IN ('BEGIN', 'COMMIT', 'ROLLBACK')), 0),
                   coalesce(sum(s.calls) FILTER (WHERE s.query = 'COMMIT'), 0)
            FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
            WHERE r.rolname <> %s
            """,
            [HARNESS_USER],
        )
        queries, commits = cursor.fetchone()
    return int(queries), int(commits)


# --- the report ------------------------------------------------------------------------------


def report(rounds: list[Round], options: argparse.Namespace) -> None:
    def line(label: str, values: list[float], unit: str) -> None:
        median, low, high = spread(values)
        say(f"  {label:<38} {median:10.1f} {unit:<12} ({low:.1f}-{high:.1f})")

    say(
        f"\nmedians of {len(rounds)} rounds (min-max); {options.bookings} saturated, {options.alone} alone, "
        f"layout {options.layout}, {options.orchestrators} orchestrator worker(s)"
    )
    line("engine throughput", [r.engine_per_s for r in rounds], "bookings/s")
    for p in ("p50", "p95", "p99"):
        line(f"engine latency saturated {p}", [r.engine_ms[p] for r in rounds], "ms")
    for p in ("p50", "p95", "p99"):
        line(f"engine latency alone {p}", [r.engine_alone_ms[p] for r in rounds], "ms")
    line("queries per step", [r.queries_per_step for r in rounds], "")
    line("write transactions per step", [r.transactions_per_step for r in rounds], "")
    for role in rounds[0].cpu_ms_per_booking:
        line(f"CPU per booking: {role}", [r.cpu_ms_per_booking[role] for r in rounds], "ms")
    line("bare chain throughput", [r.chain_per_s for r in rounds], "chains/s")
    line("bare chain latency saturated p50", [r.chain_ms["p50"] for r in rounds], "ms")
    line("bare chain latency alone p50", [r.chain_alone_ms["p50"] for r in rounds], "ms")
    engine_per_s = spread(r.engine_per_s for r in rounds)[0]
    chain_per_s = spread(r.chain_per_s for r in rounds)[0]
    engine_alone = spread(r.engine_alone_ms["p50"] for r in rounds)[0]
    chain_alone = spread(r.chain_alone_ms["p50"] for r in rounds)[0]
    summary: dict[str, Any] = {
        "throughput_ratio": round(engine_per_s / chain_per_s, 3),
        "latency_ratio": round(engine_alone / chain_alone, 2),
        "engine_bookings_per_s": round(engine_per_s, 1),
        "chain_per_s": round(chain_per_s, 1),
        "engine_alone_p50_ms": round(engine_alone, 2),
        "chain_alone_p50_ms": round(chain_alone, 2),
        "layout": options.layout,
        "orchestrators": options.orchestrators,
        "bookings": options.bookings,
        "rounds": [asdict(r) for r in rounds],
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())
