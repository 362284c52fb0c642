"""What the Workers panel shows: the Celery workers that answer, their queues, each queue's depth
in the broker and its consumers, and what needs attention.

Workers run with --without-gossip and send no task events, so they are found by a remote-control
broadcast (`inspect().active_queues()`, answered over the broker's pidbox), with a short timeout:
a worker that does not answer within it is not listed. When each worker last answered is kept in
the cache, as are the depths of the previous look (a queue deeper than then is growing).

Embedded mode's worker threads run inside the web process on the in-memory broker: nothing answers
a broadcast there, and the page says so.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from orchestrator.broker import broker_url, queue_depths
from orchestrator.commands import queues_all

logger = logging.getLogger(__name__)

INSPECT_TIMEOUT = 1.0  # seconds: the broadcast's wait, and the broker's connect timeout
_SEEN_KEY = "workers:last-seen"
_DEPTHS_KEY = "workers:previous-depths"
_KEEP = 24 * 3600


@dataclass(frozen=True)
class WorkerSeen:
    name: str
    queues: tuple[str, ...]
    last_seen: datetime
    answered: bool  # in this look, or only remembered from an earlier one


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int | None  # None: the broker did not tell
    previous_depth: int | None
    consumers: int | None  # None: unknown (nobody answered and the broker does not count them)

    @property
    def growing(self) -> bool:
        return self.depth is not None and self.previous_depth is not None and self.depth > self.previous_depth


@dataclass
class WorkersLook:
    looked_at: datetime
    answered: bool  # some worker answered the broadcast in time
    embedded: bool = False  # the workers are threads of this process: nobody to ask
    broker_error: str = ""
    workers: list[WorkerSeen] = field(default_factory=list)
    queues: list[QueueState] = field(default_factory=list)

    @property
    def without_consumer(self) -> list[str]:
        return [q.name for q in self.queues if q.consumers == 0]

    @property
    def growing(self) -> list[str]:
        return [q.name for q in self.queues if q.growing]


def workers_answering(*, timeout: float = INSPECT_TIMEOUT) -> dict[str, tuple[str, ...]]:
    """Each worker that answers a broadcast within `timeout`, with the queues it consumes.
    Raises when the broker cannot be reached (within `timeout` too)."""
    from config.celery import app

    with app.connection_for_write(url=broker_url(), connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, timeout=math.ceil(timeout))
        replies = app.control.inspect(timeout=timeout, connection=connection).active_queues() or {}
    return {name: tuple(sorted(q["name"] for q in queues or ())) for name, queues in replies.items()}


def _remembered(answering: dict[str, tuple[str, ...]], now: datetime) -> list[WorkerSeen]:
    """This look's workers, and those seen in the last day that did not answer this time."""
    seen: dict[str, dict[str, Any]] = cache.get(_SEEN_KEY) or {}
    for name, queues in answering.items():
        seen[name] = {"queues": list(queues), "at": now.isoformat()}
    cache.set(_SEEN_KEY, seen, timeout=_KEEP)
    return sorted(
        (
            WorkerSeen(
                name=name,
                queues=tuple(entry["queues"]),
                last_seen=datetime.fromisoformat(entry["at"]),
                answered=name in answering,
            )
            for name, entry in seen.items()
        ),
        key=lambda w: (not w.answered, w.name),
    )


def workers_look(*, timeout: float = INSPECT_TIMEOUT) -> WorkersLook:
    """1. Broadcast to the workers; 2. read the queues' depths; 3. compare with the previous look.
    Never raises for a broker that is down: the look says what it could not learn."""
    now = timezone.now()
    look = WorkersLook(looked_at=now, answered=False)
    if settings.EMBEDDED_WORKERS:
        look.embedded = True
        look.queues = [QueueState(q, depth=None, previous_depth=None, consumers=None) for q in queues_all()]
        return look
    answering: dict[str, tuple[str, ...]] = {}
    depths: dict[str, tuple[int, int | None]] = {}
    try:
        answering = workers_answering(timeout=timeout)
        depths = queue_depths(timeout=timeout)
    except Exception as exc:
        logger.warning("workers panel: the broker does not answer", exc_info=True)
        look.broker_error = f"{type(exc).__name__}: {exc}"[:300]
    look.answered = bool(answering)
    look.workers = _remembered(answering, now)
    previous: dict[str, int] = cache.get(_DEPTHS_KEY) or {}
    cache.set(_DEPTHS_KEY, {queue: depth for queue, (depth, _) in depths.items()}, timeout=_KEEP)
    for queue in queues_all():
        depth, counted = depths.get(queue, (None, None))
        listening = sum(1 for queues in answering.values() if queue in queues)
        # The broker's count when it keeps one (RabbitMQ), else the workers that said so.
        consumers = counted if counted is not None else listening
        look.queues.append(
            QueueState(name=queue, depth=depth, previous_depth=previous.get(queue), consumers=consumers)
        )
    return look
