"""The bench's world: a private PostgreSQL (with pg_stat_statements) and Redis in a temporary
folder, the schema and the bench's workflow, every service at zero faults, and the production
layout under supervisord started and stopped on demand."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.infra import Postgres, Redis, Stack, world_stop

# The demo trip, with step timeouts longer than a round: a round starts thousands of bookings at
# once, and the last ones' commands wait in the queues for longer than the demo's 10 s, which would
# measure a storm of timeouts and retries rather than the engine's pace.
WORKFLOW = "trip-bench"
STEP_TIMEOUT = 600.0
HARNESS_USER = "bench"  # the harness's own queries are told apart from the engine's by user


def bench_step_specs() -> list[Any]:
    """The bench workflow's steps: the demo trip, with its long timeouts (Django must be set up)."""
    from booking.demo import trip_steps

    return trip_steps(parallel=False, timeout=STEP_TIMEOUT)


def bench_steps() -> int:
    """Steps a booking of the bench workflow runs when all goes well (its main phase)."""
    from orchestrator.status import StepPhase

    return sum(1 for spec in bench_step_specs() if spec.phase == StepPhase.MAIN)


def bench_queues() -> list[str]:
    """The service queues the bench workflow's commands go to."""
    from orchestrator.commands import command_get

    return sorted({command_get(spec.command).queue for spec in bench_step_specs()})


@dataclass
class World:
    folder: Path
    postgres: Postgres
    redis: Redis
    env: dict[str, str]
    stack: Stack | None = None

    def stack_start(self, name: str, **env: str) -> Stack:
        """The production layout with these settings (worker counts, layout), its workers answering."""
        from chaos.__main__ import wait_for_workers

        self.stack_stop()
        self.stack = Stack(self.folder / name, {**self.env, **env})
        self.stack.start()
        wait_for_workers()
        return self.stack

    def stack_stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
            self.stack = None


@contextmanager
def world(*, keep: bool = False, latency_ms: int = 0, **env: str) -> Iterator[World]:
    """Everything the bench needs; torn down on the way out (unless `keep`)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    folder.chmod(0o755)
    postgres = Postgres(
        folder / "postgres",
        database="bench",
        settings=["shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"],
    )
    redis = Redis(folder / "redis")
    made = World(folder, postgres, redis, {})
    try:
        print(f"bench: a private PostgreSQL and Redis in {folder}", flush=True)
        postgres.create()
        redis.start()
        made.env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "BENCH_BROKER_URL": redis.url,
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "METRICS_TOKEN": "bench-metrics",
            "DATA_DIR": str(folder / "var"),
            "LOG_LEVEL": "WARNING",
            **env,
        }
        made.env.pop("CELERY_BROKER_URL", None)
        made.env.pop("CHAOS_MODE", None)
        os.environ.update(made.env)
        os.environ.pop("CELERY_BROKER_URL", None)
        prepare(postgres, postgres.url.replace("postgres@", f"{HARNESS_USER}@"), latency_ms=latency_ms)
        yield made
    finally:
        stack, made.stack = made.stack, None
        world_stop(stack, redis, postgres, folder, keep=keep)


def prepare(postgres: Postgres, harness_url: str, *, latency_ms: int = 0) -> None:
    """Schema, demo workflows, services at zero faults (and `latency_ms`), as the harness's own
    database user (so its queries can be left out of the stack's)."""
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
    from booking.services.registry import service_names

    for service in service_names():
        faults_set(service, technical_rate=0.0, business_rate=0.0, latency_ms=latency_ms, outage=False)
    from orchestrator.definitions import definition_save

    steps = bench_step_specs()
    definition_save(name=WORKFLOW, version=1, description="the bench's trip", steps=steps, activate=True)
