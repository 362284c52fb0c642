"""Live hints from the engine to the dashboard's sockets, throttled at the source.

A worker that changes a process notes its id; a timer thread sends one hint with every id noted
since, to the channel-layer group the sockets listen on, at most every THROTTLE seconds: at once
after a quiet spell (a lone change shows without delay), then once per THROTTLE while changes
keep coming. A burst of thousands of changes per second thus becomes a few messages per second. Hints may be
lost (the channel layer is at-most-once): each socket also refreshes from the database on
connect and every few seconds, so a lost hint only delays an update.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.dispatch import receiver

from dashboard import groups
from orchestrator.signals import process_changed

logger = logging.getLogger(__name__)

THROTTLE = 0.25  # seconds between two hints from one process
MAX_IDS = 200  # past this, a hint says "many changed" and sockets refresh what they show

_lock = threading.Lock()
_pending: set[str] = set()
_overflow = False
_last_flush = 0.0  # time.monotonic() of the last hint sent
_noted = threading.Event()  # set when an id is noted; the sender thread waits on it
_sender: threading.Thread | None = None

# The event loop that serves the sockets, when it runs in this process (embedded mode): the
# in-memory channel layer may only be used from that loop.
server_loop: asyncio.AbstractEventLoop | None = None


@receiver(process_changed)
def note_change(sender: Any, process_id: str, **kwargs: Any) -> None:
    global _overflow, _sender
    with _lock:
        if len(_pending) < MAX_IDS:
            _pending.add(process_id)
        else:
            _overflow = True
        if _sender is None or not _sender.is_alive():  # the first change (or a forked child's)
            _sender = threading.Thread(target=_send_forever, name="live-hints", daemon=True)
            _sender.start()
    _noted.set()


def _send_forever() -> None:
    """One thread per process sends the hints: at once after a quiet spell, then at most once per
    THROTTLE (a thread started for each hint cost more than the hint)."""
    while True:
        _noted.wait()
        pause = _last_flush + THROTTLE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        _noted.clear()  # ids noted from here on are in this hint or wake the next one
        _flush()


def _flush() -> None:
    global _overflow, _last_flush
    with _lock:
        if not _pending and not _overflow:
            return
        ids = None if _overflow else sorted(_pending)
        _pending.clear()
        _overflow = False
        _last_flush = time.monotonic()
    try:
        hint_send({"type": "processes.changed", "ids": ids})
    except Exception:  # a hint is only a hint: the sockets' own refresh catches up
        logger.warning("could not send a live hint", exc_info=True)


def hint_send(message: dict[str, Any], group: str = groups.LIVE) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        loop = server_loop
        if loop is None or loop.is_closed():
            return  # no socket has ever connected to this process
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
    else:
        async_to_sync(layer.group_send)(group, message)
