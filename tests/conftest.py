"""Shared fixtures: real services, or a clear skip (a failure with REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.commands import queues_all
from tests.support.services import (
    broker_is_amqp,
    broker_purge,
    postgres_url_for_test_database,
    redis_reachable,
    service_missing,
)
from tests.support.workers import WorkerProcess

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Fixtures shared by many tests: browser, sent_tasks, trip_workflows, socket hygiene.
pytest_plugins = ["tests.support.browser", "tests.support.engine", "tests.support.sockets"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every asyncio test gets a channel layer of its own loop and leaves no task behind."""
    for item in items:
        if item.get_closest_marker("asyncio") is not None:
            item.fixturenames.insert(0, "socket_hygiene")  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def fresh_fault_settings() -> Iterator[None]:
    """Each test reads fault settings from its own database, not from what a worker kept of an
    earlier test's (rolled back since)."""
    from booking.faults import faults_forget

    faults_forget()
    yield
    faults_forget()


@pytest.fixture(autouse=True)
def no_worker_thread_left_behind() -> None:
    """An embedded worker thread that outlived its test would consume this test's messages
    from the broker: say so here rather than let the test fail in some puzzling way."""
    from config.embedded import WORKER_THREAD_PREFIX

    strays = [t.name for t in threading.enumerate() if t.name.startswith(WORKER_THREAD_PREFIX)]
    assert not strays, f"worker threads of an earlier test still consume the queues: {strays}"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Connections opened by worker threads (sync_to_async, consumers) close after each use:
    the test database is dropped at the end of the run, which PostgreSQL refuses while a
    session is open."""
    from django.conf import settings

    for database in settings.DATABASES.values():
        if database["ENGINE"].endswith("postgresql"):
            database["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session", autouse=True)
def no_stray_connections_at_the_end(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Close what worker threads left open before the test database is dropped.

    Consumers and the ASGI handler run database code in asgiref's worker threads, each with its
    own connection; one left idle there would make PostgreSQL refuse to drop the test database.
    This runs before pytest-django's teardown (it depends on its setup).
    """
    yield
    from django.db import connection, connections

    connections.close_all()
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


@pytest.fixture
def postgres_url(transactional_db: None) -> str:
    """A URL for the test database, so that child processes see what the test writes."""
    url = postgres_url_for_test_database()
    if url is None:
        service_missing("PostgreSQL", "the test database is not PostgreSQL (set DATABASE_URL=postgres://...)")
    return url


@pytest.fixture
def on_postgres() -> None:
    """For a test of what PostgreSQL itself does (row locks, its plans), whatever the test
    database's transactions: skipped on another database, failed under REQUIRE_SERVICES=1."""
    if postgres_url_for_test_database() is None:
        service_missing("PostgreSQL", "the test database is not PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        service_missing("Redis", "REDIS_URL is not set")
    if not redis_reachable(url):
        service_missing("Redis", f"{url} does not answer PING")
    return url


@pytest.fixture
def production_env(postgres_url: str, redis_url: str) -> dict[str, str]:
    """Environment for a child process in production mode against the test database, on the
    broker of this run (RabbitMQ when CELERY_BROKER_URL is amqp://, else Redis)."""
    import redis

    # Messages left in the queues by an earlier run would reach the new workers.
    redis.Redis.from_url(redis_url).flushdb()
    if broker_is_amqp():
        broker_purge(queues_all())
    env = dict(os.environ)
    env.update(DATABASE_URL=postgres_url, REDIS_URL=redis_url, PYTHONPATH=str(PROJECT_ROOT))
    return env


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a child process in embedded mode with its own SQLite under tmp_path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY"}
    }
    env.update(DATA_DIR=str(tmp_path / "var"), PYTHONPATH=str(PROJECT_ROOT))
    return env


@pytest.fixture
def celery_worker_process(production_env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A real `celery worker` process consuming every queue, stopped after the test."""
    worker = WorkerProcess(env=production_env, python=sys.executable, cwd=PROJECT_ROOT)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
