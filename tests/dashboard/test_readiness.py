"""`/readyz`: ready when the database answers, every migration is applied and the broker answers;
otherwise 503, naming what is not ready. The outages are real: a web server started against a
port where nothing listens, or against a database nothing was migrated into."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from tests.support.processes import WatchedProcess, free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_ready_when_the_database_the_migrations_and_the_broker_are(
    transactional_db: None, redis_url: str
) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }


def _nothing_listens() -> int:
    return free_port()  # bound a moment ago and released: a connection there is refused


def _readyz(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """GET /readyz from `manage.py serve` (production mode) started with `env`."""
    port = free_port()
    server = WatchedProcess(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT
    ).start()
    try:
        server.wait_for_line(rf"Uvicorn running on http://127\.0\.0\.1:{port}", timeout=60)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())
    finally:
        server.interrupt()


@pytest.fixture
def web_env(production_env: dict[str, str]) -> dict[str, str]:
    return {**production_env, "SECRET_KEY": "test-" + "k" * 40}


def test_not_ready_when_the_broker_does_not_answer(web_env: dict[str, str]) -> None:
    port = _nothing_listens()
    status, body = _readyz({**web_env, "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0"})
    assert status == 503
    assert body["checks"] == {"database": "ok", "migrations": "ok", "broker": "unreachable"}
    assert str(port) not in json.dumps(body)  # where the broker is stays in the log


def test_not_ready_when_the_database_does_not_answer(web_env: dict[str, str]) -> None:
    status, body = _readyz(
        {**web_env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{_nothing_listens()}/none"}
    )
    assert status == 503
    assert body["checks"]["database"] == "unreachable"
    assert body["checks"]["broker"] == "ok"
    assert "127.0.0.1" not in json.dumps(body)


@pytest.fixture
def unmigrated_database_url(postgres_url: str) -> Iterator[str]:
    """An empty database beside the test database: reachable, nothing migrated."""
    name = f"readyz_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_not_ready_until_the_migrations_are_applied(
    web_env: dict[str, str], unmigrated_database_url: str
) -> None:
    status, body = _readyz({**web_env, "DATABASE_URL": unmigrated_database_url})
    assert status == 503
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"].endswith("not applied")
