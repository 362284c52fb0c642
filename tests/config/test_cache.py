"""The Redis cache keeps one redis-py client per connection pool, and works as Django's."""

from __future__ import annotations

import uuid

import pytest

from config.cache import RedisCache

pytestmark = pytest.mark.redis


def test_one_client_serves_every_operation(redis_url: str) -> None:
    cache = RedisCache(redis_url, {"KEY_PREFIX": f"test-{uuid.uuid4()}"})
    cache.set("version", 41, timeout=60)
    assert cache.get_or_set("version", 0, timeout=60) == 41
    assert cache.incr("version") == 42
    assert cache.add("version", 0) is False
    cache.delete("version")
    assert cache.get("version") is None

    made = cache._cache  # type: ignore[attr-defined]  # Django's cached client object
    client = made.get_client("version", write=True)
    assert made.get_client("other", write=True) is client  # kept, not made again
    assert client.ping()
