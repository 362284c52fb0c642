"""Finding the real services the integration tests need."""

from __future__ import annotations

import os
from typing import Any, NoReturn
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


def broker_url() -> str:
    """The broker the workers of this run use: RabbitMQ when CELERY_BROKER_URL says so, else Redis."""
    from django.conf import settings

    return str(settings.CELERY_BROKER_URL)


def broker_is_amqp() -> bool:
    return broker_url().startswith("amqp")


def broker_purge(queues: tuple[str, ...] | list[str]) -> None:
    """Empty the queues, as a broker restart without persistence would (Redis: the whole database,
    which also holds what an earlier run left; RabbitMQ: each queue)."""
    if not broker_is_amqp():
        import redis

        redis.Redis.from_url(broker_url()).flushdb()
        return
    from config.celery import app

    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel  # an AMQP channel (the stubs know less)
        for queue in queues:
            channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            channel.queue_purge(queue)


def broker_waiting(queue: str) -> int:
    """Messages waiting on `queue`, not yet taken by a worker."""
    if not broker_is_amqp():
        import redis

        return int(redis.Redis.from_url(broker_url()).llen(queue))
    from config.celery import app

    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        declared = channel.queue_declare(queue=queue, durable=True, auto_delete=False, passive=True)
        return int(declared.message_count)
