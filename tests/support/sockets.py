"""Websocket tests' plumbing: each test gets a channel layer of its own event loop, and nothing of
its sockets outlives that loop.

The channel layer is a process-wide object that keeps receive state (locks, cleanup tasks), and
every asyncio test runs on an event loop of its own. So the layer is built afresh for each test,
every task the test left behind (a refused socket leaves its consumer waiting on the layer) is
cancelled while its loop still runs, and a task that ignores cancellation fails the test at once,
showing where it waits, instead of hanging the run at the loop's close.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from channels.layers import channel_layers

TEARDOWN_SECONDS = 10.0


@pytest_asyncio.fixture
async def socket_hygiene() -> AsyncIterator[None]:
    channel_layers.backends.clear()
    try:
        yield
    finally:
        try:
            await _cancel_leftover_tasks()
            await _close_layers()
        finally:
            channel_layers.backends.clear()


async def _cancel_leftover_tasks() -> None:
    this = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not this and not task.done()]
    for task in leftovers:
        task.cancel()
    if not leftovers:
        return
    _, stuck = await asyncio.wait(leftovers, timeout=TEARDOWN_SECONDS)
    if stuck:
        where = "\n\n".join("\n".join(_awaiting(task)) for task in stuck)
        raise AssertionError(f"{len(stuck)} task(s) ignored cancellation for {TEARDOWN_SECONDS} s:\n{where}")


def _awaiting(task: asyncio.Task[object]) -> list[str]:
    """The chain of coroutines a task waits in, outermost first (a task's own stack stops at its
    first frame)."""
    lines = []
    coroutine: Any = task.get_coro()
    while coroutine is not None:
        frame = getattr(coroutine, "cr_frame", None)
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coroutine = getattr(coroutine, "cr_await", None)
    return lines


async def _close_layers() -> None:
    for layer in list(channel_layers.backends.values()):
        close_pools = getattr(layer, "close_pools", None)  # the in-memory layer has none
        if close_pools is not None:
            async with asyncio.timeout(TEARDOWN_SECONDS):
                await close_pools()
