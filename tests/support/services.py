"""Finding the real services the integration tests need."""

from __future__ import annotations

import os
from typing import NoReturn
from urllib.parse import quote

import pytest


def service_missing(service: str, reason: str) -> NoReturn:
    """Skip the test, or fail it when the run requires every service (CI sets REQUIRE_SERVICES=1)."""
    message = f"{service} unavailable: {reason}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (REQUIRE_SERVICES=1)")
    pytest.skip(message)


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def postgres_url_for_test_database() -> str | None:
    """The connection URL of pytest-django's test database, or None when it is not PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"
