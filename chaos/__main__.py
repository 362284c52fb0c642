"""`make chaos`: the production layout on its own PostgreSQL and Redis, under load, through every
fault below, one scenario after the other; a line per scenario, and a non-zero exit on any
violation.

    python -m chaos                 # the full run (about 15 minutes)
    python -m chaos --short         # every scenario, shortened (a few minutes; CI runs this)
    python -m chaos --only poison   # one or more scenarios by name

Pass criteria for every scenario: each booking ends (or waits for an operator, counted and
explained), none is lost, none is charged twice, charges minus refunds equal the amount if it
completed and 0 otherwise, no process exits that nobody asked for, no HTTP answer is a 5xx but
the promised 503, and replaying each history gives its snapshot.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.commands import queues_all

if TYPE_CHECKING:
    from chaos.infra import Postgres, Redis, Stack


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="every scenario, shortened")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the chaos folder for a look")
    options = parser.parse_args()

    from chaos.infra import Postgres, Redis, Stack, world_stop

    # Ctrl-C or a TERM from CI: stop everything started (the `finally` below), leave nothing behind.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="chaos-"))
    folder.chmod(0o755)  # PostgreSQL runs as its own user, and must reach its folder
    postgres, redis = Postgres(folder / "postgres"), Redis(folder / "redis")
    stack = None
    try:
        print(f"chaos: a private PostgreSQL and Redis in {folder}", flush=True)
        postgres.create()
        redis.start()
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "SECRET_KEY": "chaos-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "METRICS_TOKEN": "chaos-metrics",
            "DATA_DIR": str(folder / "var"),
            "CHAOS_MODE": "1",
            "LOG_LEVEL": "WARNING",
        }
        env.pop("CELERY_BROKER_URL", None)
        os.environ.update(env)
        os.environ.pop("CELERY_BROKER_URL", None)
        token = prepare()
        stack = Stack(folder / "stack", env)
        stack.start()
        wait_for_workers()
        return run(stack, postgres, redis, token, options)
    finally:
        world_stop(stack, redis, postgres, folder, keep=options.keep)


WORKFLOW = "trip-chaos"


def prepare() -> str:
    """Django against the chaos database: schema, demo data, the workflow, an API token."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.core.management import call_command

    from api.models import ApiToken
    from booking.demo import trip_steps
    from orchestrator.definitions import definition_save
    from orchestrator.engine.types import RetryPolicy

    # The harness's own lines are the report: its retries while PostgreSQL restarts are not.
    logging.getLogger().setLevel(logging.ERROR)
    call_command("migrate", "--noinput", verbosity=0)
    call_command("load_demo", verbosity=0)
    # The trip with short timeouts and a deep retry budget: faults cost seconds, not minutes.
    retry = RetryPolicy(max_attempts=12, initial_delay=0.3, multiplier=2.0, max_delay=2.0, jitter=0.2)
    steps = [
        spec.__class__(**{**spec.__dict__, "retry": retry}) for spec in trip_steps(parallel=True, timeout=5.0)
    ]
    definition_save(name=WORKFLOW, version=1, description="chaos", steps=steps, activate=True)
    user = get_user_model().objects.create_user("chaos-shop")
    wanted = ["add_booking", "view_booking", "view_processinstance"]
    user.user_permissions.set(Permission.objects.filter(codename__in=wanted))
    return ApiToken.issue(user=user, name="chaos")[1]


def wait_for_workers() -> None:

    from orchestrator.probes import probe_send, probes_await

    probes = [probe_send(queue=queue) for queue in queues_all()]
    silent = [r.queue for r in probes_await(probes=probes, timeout=90) if r.latency is None]
    if silent:
        raise SystemExit(f"chaos: no worker answers on {', '.join(silent)}")


def run(stack: Stack, postgres: Postgres, redis: Redis, token: str, options: argparse.Namespace) -> int:
    from chaos.checks import drain, every_process_replays, judge
    from chaos.load import Load, api_booker, generate, start
    from chaos.scenarios import FULL, SCENARIOS, SHORT, World

    scale = SHORT if options.short else FULL
    world = World(stack, postgres, redis, scale, random.Random(options.seed), token)
    chosen = options.only or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"chaos: unknown scenario(s) {', '.join(unknown)}; one of {', '.join(SCENARIOS)}")
    verdicts = []
    began = time.monotonic()
    for number, name in enumerate(chosen):
        print(f"chaos: {name} …", flush=True)
        mark = world.stack.mark()
        load = Load()
        until = time.monotonic() + scale.fault_seconds
        start(
            load,
            generate,
            bookings=int(scale.rate * scale.fault_seconds),
            rate=scale.rate,
            workflow=WORKFLOW,
            seed=options.seed + number,
        )
        for index in range(scale.api_bookers):
            start(
                load,
                api_booker,
                port=world.stack.port,
                token=token,
                workflow=WORKFLOW,
                until=until,
                name=f"{name}-{index}",
            )
        killed = SCENARIOS[name](world, load, until)
        seconds = drain(load, since=max(until, time.monotonic()), timeout=scale.drain_timeout)
        load.join(timeout=10)
        exits = unasked_exits(world.stack.unexpected_exits(mark), killed)
        verdict = judge(
            name,
            load.booking_ids,
            drain_seconds=seconds,
            unexpected_exits=exits,
            not_running=world.stack.not_running(),
            http=load.statuses,
        )
        verdicts.append(verdict)
        print(verdict.line(), flush=True)
        details = verdict.waiting[:10] + verdict.money[:10] + verdict.replay_mismatches[:10]
        for line in details + exits[:10] + verdict.not_running:
            print(f"    {line}", flush=True)
    everything = every_process_replays()
    print(
        f"chaos: every process's history replays to its snapshot: "
        f"{'yes' if not everything else f'no, {len(everything)} do not'}",
        flush=True,
    )
    failed = [v.scenario for v in verdicts if not v.ok]
    if failed or everything:
        print(f"chaos: FAILED ({', '.join(failed) or 'replay'})", flush=True)
        return 1
    print(f"chaos: all {len(verdicts)} scenario(s) passed in {time.monotonic() - began:.0f} s", flush=True)
    return 0


def unasked_exits(exits: list[str], killed: Counter[str]) -> list[str]:
    """The exits supervisord saw, less those the scenario caused on purpose."""
    left = Counter(killed)
    unasked = []
    for line in exits:
        name = next((n for n in left if f"exited: {n} " in line and left[n] > 0), None)
        if name is None:
            unasked.append(line)
        else:
            left[name] -= 1
    return unasked


if __name__ == "__main__":
    sys.exit(main())
