"""Celery entry points of the orchestrator. Thin: each parses its arguments and calls one service."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from orchestrator.outbox import outbox_relay
from orchestrator.probes import probe_answer
from orchestrator.processes import TRANSIENT_ERRORS, message_handle, timers_fire
from orchestrator.redelivery import delivery_count_exceeded

logger = logging.getLogger(__name__)

# A message whose handling crashes the worker comes back (reject on worker lost); after this many
# deliveries it is kept as a dead letter instead of taking the worker down again and again.
MAX_DELIVERIES = 5
TICK_CLAIM = "orchestrator:tick-claim"


@shared_task(name="orchestrator.event", bind=True, max_retries=10)
def event(self: Any, body: Any) -> str:
    """A reply from a service."""
    redelivered = bool(self.request.delivery_info and self.request.delivery_info.get("redelivered"))
    try:
        if redelivered and delivery_count_exceeded(task=self, body=body, limit=MAX_DELIVERIES):
            return "dead-letter"
        return message_handle(body).status
    except TRANSIENT_ERRORS as exc:
        # The database is away (restart, failover): try again shortly; the history is intact.
        # Past the last retry the message is lost to Celery, and the step's timeout takes over.
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


@shared_task(name="orchestrator.tick")
def tick() -> int:
    """Fire due timers (retry backoff, step timeouts) and re-publish forgotten outbox rows."""
    if not tick_claimed():
        return 0
    fired = 0
    while (handled := timers_fire()) > 0:
        fired += handled
        if handled < 100:
            break
    outbox_relay()
    return fired


def tick_claimed() -> bool:
    """Whether this tick should run: no other started within most of a period.

    Ticks that waited in a queue behind a backlog (a slow or restarted worker) would otherwise all
    run one after the other, each sweeping the whole table, while the replies they are queued
    with wait: the backlog would feed itself. The start of the last tick, in the shared cache,
    lets the rest return at once. (Two workers may both start one at the same moment; SKIP LOCKED
    keeps them apart.) If the cache is away, the tick runs.
    """
    now = time.time()
    try:
        last = cache.get(TICK_CLAIM)
        if last is not None and 0 <= now - float(last) < settings.TIMER_TICK_SECONDS * 0.8:
            return False
        cache.set(TICK_CLAIM, now, timeout=3600)
    except Exception:
        logger.warning("the cache does not answer: the tick runs anyway", exc_info=True)
    return True


@shared_task(name="ops.wake")
def wake() -> None:
    """Does nothing: wakes a polling worker so that it notices it should stop."""


@shared_task(name="ops.probe", bind=True)
def probe(self: Any, probe_id: str) -> None:
    probe_answer(probe_id=probe_id, worker=self.request.hostname or "")
