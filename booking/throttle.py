"""A fixed-window rate limit on the shared cache (Redis in production, so every web process counts)."""

from __future__ import annotations

import time

from django.core.cache import cache


def over_limit(key: str, *, limit: int, window: int = 60) -> bool:
    """Count one more hit for `key`; True once it passes `limit` within the current window."""
    bucket = f"throttle:{key}:{int(time.time() // window)}"
    if cache.add(bucket, 1, timeout=window * 2):
        return limit < 1
    try:
        return cache.incr(bucket) > limit
    except ValueError:  # the bucket expired between add and incr
        cache.add(bucket, 1, timeout=window * 2)
        return False
