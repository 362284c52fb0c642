"""Celery entry points of the orchestrator. Thin: each parses its arguments and calls one service."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import shared_task
from celery.signals import worker_shutdown
from django.conf import settings
from django.core.cache import cache

from orchestrator.batches import Pulled, acknowledge, backlog_likely, give_back, more_replies
from orchestrator.outbox import outbox_marks_deferred, outbox_relay, outbox_transaction
from orchestrator.probes import PROBE_TASK, probe_answer
from orchestrator.processes import TRANSIENT_ERRORS, messages_handle, timers_fire
from orchestrator.redelivery import delivery_count_exceeded

logger = logging.getLogger(__name__)

# A message whose handling crashes the worker comes back (reject on worker lost); after this many
# deliveries it is kept as a dead letter instead of taking the worker down again and again.
MAX_DELIVERIES = 5
TICK_CLAIM = "orchestrator:tick-claim"


@shared_task(name="orchestrator.event", bind=True, max_retries=10)
def event(self: Any, body: Any) -> str:
    """A reply from a service, with the replies waiting behind it (orchestrator.batches)."""
    redelivered = bool(self.request.delivery_info and self.request.delivery_info.get("redelivered"))
    pulled: list[Pulled] = []
    try:
        if redelivered and delivery_count_exceeded(
            message_id=str(self.request.id), task_name=self.name, body=body, limit=MAX_DELIVERIES
        ):
            return "dead-letter"
        if settings.ORCHESTRATOR_BATCH_SIZE > 1 and backlog_likely(self.request):
            pulled = more_replies(settings.ORCHESTRATOR_BATCH_SIZE - 1)
        bodies = [body]
        for item in pulled:
            if not (
                item.redelivered
                and delivery_count_exceeded(
                    message_id=item.message_id, task_name=self.name, body=item.body, limit=MAX_DELIVERIES
                )
            ):
                bodies.append(item.body)
        with outbox_marks_deferred():
            outcomes = messages_handle(bodies)
    except TRANSIENT_ERRORS as exc:
        # The database is away (restart, failover): try again shortly; the history is intact.
        # Past the last retry the message is lost to Celery, and the step's timeout takes over.
        give_back(pulled)
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc
    except BaseException:
        give_back(pulled)
        raise
    acknowledge(pulled)
    return outcomes[0].status if outcomes else "dead-letter"


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


@worker_shutdown.connect
def _mark_what_was_sent(**kwargs: Any) -> None:
    """A worker stopping marks the rows it sent, so the relay does not send them again."""
    try:
        with outbox_transaction():
            pass
    except Exception:  # the relay sends them again: duplicates the services drop
        logger.warning("could not mark the commands sent before stopping", exc_info=True)


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


@shared_task(name=PROBE_TASK, bind=True)
def probe(self: Any, probe_id: str) -> None:
    probe_answer(probe_id=probe_id, worker=self.request.hostname or "")
