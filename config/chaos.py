"""Broker faults for `make chaos`: every message delivered twice, half of the copies late.

Off unless the process runs with CHAOS_MODE=1 (only the chaos harness sets it): only then is
`maybe_duplicate` installed after every publish (orchestrator's AppConfig.ready). The harness
switches duplication on and off at run time with a key in the shared cache, so that one scenario
can have it without restarting the stack. The service faults (booking.faults) are the other half
of fault injection: what services do; this is what the broker does.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

ENABLED = os.environ.get("CHAOS_MODE") == "1"
DUPLICATES_KEY = "chaos:duplicate-messages"
LATE_BY = (1.0, 12.0)  # seconds a late copy waits
_checked_at = 0.0
_duplicating = False


def duplicating() -> bool:
    """Whether the harness asks for duplicates now (read from the cache at most once a second)."""
    global _checked_at, _duplicating
    if not ENABLED:
        return False
    now = time.monotonic()
    if now - _checked_at > 1.0:
        from django.core.cache import cache

        try:
            _duplicating = bool(cache.get(DUPLICATES_KEY))
        except Exception:  # the cache is away (a broker restart scenario): no duplicates then
            _duplicating = False
        _checked_at = now
    return _duplicating


def maybe_duplicate(send: Callable[[], object]) -> None:
    """Send the message a second time, now or a little later, when the harness asks for it."""
    if not duplicating():
        return
    if random.random() < 0.5:
        _send_quietly(send)
    else:
        timer = threading.Timer(random.uniform(*LATE_BY), _send_quietly, args=(send,))
        timer.daemon = True
        timer.start()


def _send_quietly(send: Callable[[], object]) -> None:
    try:
        send()
    except Exception:  # a lost duplicate is a lost message: what the engine recovers from anyway
        logger.warning("chaos: a duplicate could not be sent", exc_info=True)
