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
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.measure import percentile, spread
from chaos.infra import ROOT, Postgres, Redis, Stack, world_stop

# The demo trip, with step timeouts longer than a round: a round starts thousands of bookings at
# once, and the last ones' commands wait in the queues for longer than the demo's 10 s, which would
# measure a storm of timeouts and retries rather than the engine's pace.
WORKFLOW = "trip-bench"
STEP_TIMEOUT = 600.0
STEPS_PER_BOOKING = 4  # payment, flight, hotel, e-mail
HARNESS_USER = "bench"  # the harness's own queries are told apart from the engine's by user


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
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    folder.chmod(0o755)
    postgres = Postgres(
        folder / "postgres",
        database="bench",
        settings=["shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"],
    )
    redis = Redis(folder / "redis")
    stack: Stack | None = None
    chain_workers: list[subprocess.Popen[bytes]] = []
    try:
        say(f"bench: a private PostgreSQL and Redis in {folder}")
        postgres.create()
        redis.start()
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "BENCH_BROKER_URL": redis.url,
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "METRICS_TOKEN": "bench-metrics",
            "DATA_DIR": str(folder / "var"),
            "LOG_LEVEL": "WARNING",
            "WORKER_LAYOUT": options.layout,
            "ORCHESTRATOR_WORKERS": str(options.orchestrators),
        }
        env.pop("CELERY_BROKER_URL", None)
        env.pop("CHAOS_MODE", None)
        os.environ.update(env)
        os.environ.pop("CELERY_BROKER_URL", None)
        harness_url = postgres.url.replace("postgres@", f"{HARNESS_USER}@")
        prepare(postgres, harness_url)
        stack = Stack(folder / "stack", env)
        stack.start()
        from chaos.__main__ import wait_for_workers

        wait_for_workers()
        chain_workers = [chain_worker(env, n, folder) for n in range(2)]
        rounds = [one_round(n, options, stack, postgres, redis) for n in range(options.rounds)]
        report(rounds, options)
        return 0
    finally:
        for worker in chain_workers:
            worker.terminate()
            worker.wait(30)
        world_stop(stack, redis, postgres, folder, keep=options.keep)


def say(text: str) -> None:
    print(text, flush=True)


def prepare(postgres: Postgres, harness_url: str) -> None:
    """Schema, demo workflows, services at zero faults, as the harness's own database user (so
    its queries can be left out of the stack's)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres.port),
            "-U",
            "postgres",
            "-d",
            "bench",
            "-qc",
            f"CREATE USER {HARNESS_USER} SUPERUSER; CREATE EXTENSION pg_stat_statements;",
        ],
        check=True,
        capture_output=True,
    )
    os.environ["DATABASE_URL"] = harness_url  # the stack's processes got theirs already
    django.setup()
    from django.core.management import call_command

    logging.getLogger().setLevel(logging.ERROR)
    call_command("migrate", "--noinput", verbosity=0)
    call_command("load_demo", verbosity=0)
    from booking.faults import faults_set
    from booking.models import ServiceFaults

    for service in ServiceFaults.Service.values:
        faults_set(service, technical_rate=0.0, business_rate=0.0, latency_ms=0, outage=False)
    from booking.demo import trip_steps
    from orchestrator.definitions import definition_save

    steps = trip_steps(parallel=False, timeout=STEP_TIMEOUT)
    definition_save(name=WORKFLOW, version=1, description="the bench's trip", steps=steps, activate=True)


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
    steps = options.bookings * STEPS_PER_BOOKING
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
            bookings=count, rate=100_000, workflow=WORKFLOW, timeout=600, on_progress=shown, poll=0.2
        )
    if not report.ok:
        raise SystemExit(f"bench: the engine did not finish cleanly: {report.counts}, {report.problems[:3]}")
    ids = ProcessInstance.objects.order_by("-created_at").values_list("created_at", "ended_at")[:count]
    first = min(created for created, _ in ids)
    last = max(ended for _, ended in ids if ended is not None)
    return report.latencies, count / (last - first).total_seconds()


def engine_alone(count: int, title: str) -> list[float]:
    """One booking at a time, each started once the one before ended; latency from the database's
    own times (start and end of the process), so the waiting here does not count."""
    import random

    from booking.bookings import booking_create
    from booking.simulation import trip_random
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
                time.sleep(0.002)
            assert times is not None and times[1] is not None
            latencies.append((times[1] - times[0]).total_seconds())
            progress.update()
    return latencies


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
