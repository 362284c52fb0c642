"""Replies taken from the queue in batches: several handled in one transaction, one commit.

When the orchestrator worker starts on a reply, it takes up to `limit` more that are
already waiting in its queue (never waiting for more: one reply alone is handled at once). All
are applied in one transaction, in the order they arrived, each process locked once (in id order,
so two workers never deadlock); the commands they decided are published after the commit, and
only then are the messages acknowledged. A worker killed mid-batch leaves them unacknowledged:
the broker delivers them again, and the duplicates they may cause are dropped by message id.

A message that is not a reply (a timer tick, a probe) goes back to the queue for the worker's
normal turn, and ends the batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

EVENT_TASK = "orchestrator.event"


@dataclass
class Pulled:
    """A reply taken from the queue beside the one Celery delivered; acked after the commit."""

    body: Any
    message: Any  # kombu Message
    redelivered: bool
    message_id: str


_local = threading.local()


def _queue() -> Any:
    """A kombu Queue bound to this process's own connection (opened once, on first use)."""
    from kombu import Queue

    from config.celery import app

    queue = getattr(_local, "queue", None)
    if queue is None:
        connection = app.connection_for_read()
        connection.ensure_connection(max_retries=3)
        queue = Queue(settings.ORCHESTRATOR_QUEUE, channel=connection.default_channel)
        _local.connection, _local.queue = connection, queue
    return queue


def _forget_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = _local.queue = None
    if connection is not None:
        try:
            connection.release()
        except Exception:
            logger.debug("closing the batch connection failed", exc_info=True)


def more_replies(limit: int) -> list[Pulled]:
    """Replies waiting now in the orchestrator's queue, up to `limit`, without waiting."""
    pulled: list[Pulled] = []
    try:
        queue = _queue()
        while len(pulled) < limit:
            message = queue.get(no_ack=False, accept=["json"])
            if message is None:
                break
            headers = message.headers or {}
            if headers.get("task") != EVENT_TASK:
                message.requeue()  # a tick, a probe: the worker's next turn takes it
                break
            args = message.payload[0] if isinstance(message.payload, list | tuple) else None
            if not isinstance(args, list | tuple) or len(args) != 1:
                message.requeue()  # Celery delivers it and keeps it as a dead letter
                break
            info = message.delivery_info or {}
            pulled.append(Pulled(args[0], message, bool(info.get("redelivered")), str(headers.get("id", ""))))
    except Exception:
        # The broker connection broke: the batch is what was taken so far, the rest stays queued.
        logger.warning("could not take more replies from the queue", exc_info=True)
        _forget_connection()
    return pulled


def acknowledge(pulled: Sequence[Pulled]) -> None:
    for item in pulled:
        try:
            item.message.ack()
        except Exception:  # delivered again later: a duplicate, dropped by its message id
            logger.warning("could not acknowledge %s", item.message_id, exc_info=True)
            _forget_connection()
            return


def give_back(pulled: Sequence[Pulled]) -> None:
    """Return unhandled replies to the queue (the batch could not be taken)."""
    for item in pulled:
        try:
            item.message.requeue()
        except Exception:
            logger.warning("could not give back %s", item.message_id, exc_info=True)
            _forget_connection()
            return
