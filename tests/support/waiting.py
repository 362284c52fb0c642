"""Waiting for what other processes and threads do: one polling loop for every test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float, what: str | Callable[[], str], *, every: float = 0.1
) -> T:
    """Poll `condition` until it gives something true, and return that; fail, saying `what` was
    waited for (or what the callable says then), once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(every)
    return value
