"""A task sent on a queue is consumed by a real worker and its effect lands in the database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app
from config.embedded import EmbeddedRuntime
from orchestrator.commands import queues_all
from orchestrator.probes import probe_send, probes_await
from tests.support.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded_runtime(transactional_db: None) -> Iterator[EmbeddedRuntime]:
    # Worker threads in this process, on this process's broker: in-memory without REDIS_URL,
    # Redis with it. The embedded mode proper is also checked in a fresh child process below.
    runtime = EmbeddedRuntime(app, threads=1, queues=queues_all())
    runtime.start()
    yield runtime
    runtime.stop()


def test_worker_threads_in_this_process_consume_every_queue(embedded_runtime: EmbeddedRuntime) -> None:
    probes = [probe_send(queue=q) for q in queues_all()]
    results = probes_await(probes=probes, timeout=20)
    assert {r.queue for r in results if r.latency is not None} == set(queues_all())


def test_starting_worker_threads_leaves_this_threads_database_connection_alone(
    transactional_db: None,
) -> None:
    # Celery's Django fixup closes the database connections of the thread that builds a worker
    # (and the solo pool closes their file descriptors); built here, that broke this thread's
    # connection and handed a dead descriptor to the pool.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    before = connection.connection
    runtime = EmbeddedRuntime(app, threads=2, queues=queues_all())
    runtime.start()
    try:
        assert connection.connection is before
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
        hubs = [worker.hub for worker in runtime.workers]
        if app.connection_for_read().transport.implements.asynchronous:
            # Two workers on one event loop would poll each other's sockets: each has its own.
            assert len({id(hub) for hub in hubs}) == 2 and None not in hubs
        else:  # a polling transport (the in-memory one of embedded mode) needs no event loop
            assert hubs == [None, None]
    finally:
        runtime.stop()


def run_check_workers(env: dict[str, str], *queues: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "manage.py", "check_workers", "--timeout", "20"]
    for queue in queues:
        args += ["--queue", queue]
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_embedded_mode_round_trip_in_a_fresh_process(embedded_env: dict[str, str]) -> None:
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        env=embedded_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    result = run_check_workers(embedded_env)
    assert result.returncode == 0, result.stdout + result.stderr
    for queue in queues_all():
        assert f"{queue:<16} ok" in result.stdout


@pytest.mark.workers
@pytest.mark.postgres
@pytest.mark.redis
def test_production_mode_round_trip_through_redis_to_a_worker_process(
    celery_worker_process: WorkerProcess, production_env: dict[str, str]
) -> None:
    result = run_check_workers(production_env)
    assert result.returncode == 0, result.stdout + result.stderr
    for queue in queues_all():
        assert f"{queue:<16} ok" in result.stdout
    assert "test-worker@" in result.stdout


@pytest.mark.workers
@pytest.mark.postgres
@pytest.mark.redis
def test_a_queue_without_worker_is_reported(production_env: dict[str, str]) -> None:
    worker = WorkerProcess(env=production_env, python=sys.executable, cwd=ROOT, queues=("orchestrator",))
    worker.start()
    try:
        args = [sys.executable, "manage.py", "check_workers", "--timeout", "3", "--queue", "payments"]
        result = subprocess.run(
            args, env=production_env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    finally:
        worker.stop()
    assert result.returncode != 0
    assert "payments         NO ANSWER" in result.stdout
    assert "no worker answered on: payments" in result.stderr
