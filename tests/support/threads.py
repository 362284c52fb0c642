"""Running the same code from several threads at once, each with its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connections

T = TypeVar("T")


def run_together(functions: list[Callable[[], T]], timeout: float = 30.0) -> list[T | BaseException]:
    """Start every function at the same moment (a barrier) and return results or exceptions."""
    barrier = threading.Barrier(len(functions))
    results: list[Any] = [None] * len(functions)

    def runner(index: int, function: Callable[[], T]) -> None:
        try:
            barrier.wait()
            results[index] = function()
        except BaseException as exc:  # reported to the test, which decides
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a thread did not finish"
    return results
