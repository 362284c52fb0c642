"""Messages taken from a queue in batches: several handled in one transaction, one commit.

When a worker starts on a message, it takes up to `limit` more of the same kind that are already
waiting in that queue (never waiting for more: one message alone is handled at once). The
orchestrator applies replies this way, and the services run commands this way: all in one
transaction, in the order they arrived; what they decided is published after the commit, and only
then are the messages acknowledged. A worker killed mid-batch leaves them unacknowledged: the
broker delivers them again, and the duplicates they may cause are dropped (replies by message id,
commands by idempotency key).

A message of another kind (a timer tick, a probe) goes back to the queue for the worker's normal
turn, and ends the batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

EVENT_TASK = "orchestrator.event"


@dataclass
class Pulled:
    """A message taken from the queue beside the one Celery delivered; acked after the commit."""

    body: Any
    message: Any  # kombu Message
    redelivered: bool
    message_id: str
    task: str = EVENT_TASK


_local = threading.local()


def _queue(name: str) -> Any:
    """A kombu Queue bound to this thread's own connection (opened once, on first use)."""
    from kombu import Queue

    from config.celery import app

    queues: dict[str, Any] | None = getattr(_local, "queues", None)
    if queues is None:
        connection = app.connection_for_read()
        connection.ensure_connection(max_retries=3)
        _local.connection, _local.queues = connection, {}
        queues = _local.queues
    if name not in queues:
        queues[name] = Queue(name, channel=_local.connection.default_channel)
    return queues[name]


def _forget_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = _local.queues = None
    if connection is not None:
        try:
            connection.release()
        except Exception:
            logger.debug("closing the batch connection failed", exc_info=True)


# A message taken this soon after it was published found its queue empty (it went straight to a
# waiting worker): nothing is likely to wait behind it, and the look costs a round trip per hop.
FRESH_SECONDS = 0.005


def backlog_likely(request: Any) -> bool:
    """Whether messages may wait behind the one a task was given (Celery's `task.request`): yes
    unless it was published alone, moments ago (the `published_at` and `published_with` headers
    of orchestrator.publishing; a message without them, or one delivered again, may have
    company)."""
    published_at = getattr(request, "published_at", None)
    published_with = getattr(request, "published_with", None)
    if not isinstance(published_at, int | float) or (request.delivery_info or {}).get("redelivered"):
        return True
    if not isinstance(published_with, int) or published_with > 1:
        return True  # others went out with it: some may still wait
    return time.time() - published_at >= FRESH_SECONDS


def more_replies(limit: int) -> list[Pulled]:
    """Replies waiting now in the orchestrator's queue, up to `limit`, without waiting."""
    return more_messages(settings.ORCHESTRATOR_QUEUE, tasks={EVENT_TASK}, limit=limit)


def more_messages(queue_name: str, *, tasks: Collection[str], limit: int) -> list[Pulled]:
    """Messages for one of `tasks` waiting now in `queue_name`, up to `limit`, without waiting.

    On Redis they are taken in one go (orchestrator.transport); elsewhere one by one. A message of
    another kind (a tick, a probe, or what Celery keeps as a dead letter) goes back to the queue
    for the worker's next turn, alone: under a backlog a tick arrives every second, and giving
    back the replies behind it as well cost a round trip each, and, marked redelivered, a read of
    their delivery count each when taken again. Taken one by one, the batch ends there: the next
    take would return the same message (RabbitMQ puts it back at the head)."""
    pulled: list[Pulled] = []
    if limit <= 0:
        return pulled
    try:
        queue = _queue(queue_name)
        for message in _messages_get(queue, queue_name, limit):
            item = _pulled(message, tasks)
            if item is None:
                message.requeue()
                if _takes_in_one_go(queue):
                    continue
                break
            pulled.append(item)
    except Exception:
        # The broker connection broke: the batch is what was taken so far, the rest stays queued.
        logger.warning("could not take more messages from %s", queue_name, exc_info=True)
        _forget_connection()
    return pulled


def _takes_in_one_go(queue: Any) -> bool:
    return hasattr(queue.channel, "messages_take") and not getattr(_local, "one_by_one", False)


def _messages_get(queue: Any, queue_name: str, limit: int) -> Iterator[Any]:
    if _takes_in_one_go(queue):
        try:
            yield from queue.channel.messages_take(queue_name, limit)
            return
        except queue.channel.ResponseError:  # a Redis before 6.2: no RPOP with a count
            _local.one_by_one = True
    for _ in range(limit):
        message = queue.get(no_ack=False, accept=["json"])
        if message is None:
            return
        yield message


def _pulled(message: Any, tasks: Collection[str]) -> Pulled | None:
    """The message as a batch takes it, or None: not one of `tasks`, or not a body a batch can
    read (Celery's consumer then keeps it as a dead letter)."""
    headers = message.headers or {}
    task = headers.get("task")
    if task not in tasks:
        return None
    try:
        payload = message.payload  # JSON only: anything else raises here
    except Exception:
        return None
    args = payload[0] if isinstance(payload, list | tuple) else None
    if not isinstance(args, list | tuple) or len(args) != 1:
        return None
    info = message.delivery_info or {}
    return Pulled(args[0], message, bool(info.get("redelivered")), str(headers.get("id", "")), str(task))


def acknowledge(pulled: Sequence[Pulled]) -> None:
    """Acknowledge the messages (on Redis in one round trip); one that cannot be is delivered
    again later: a duplicate, dropped by its message id."""
    if not pulled:
        return
    channel = pulled[0].message.channel
    try:
        ack_all = getattr(channel, "messages_ack", None)
        if ack_all is not None:
            ack_all([item.message.delivery_tag for item in pulled])
            for item in pulled:
                item.message._state = "ACK"  # kombu's own mark, so that nothing acks it twice
            return
        for item in pulled:
            item.message.ack()
    except Exception:
        logger.warning("could not acknowledge %d message(s)", len(pulled), exc_info=True)
        _forget_connection()


def give_back(pulled: Sequence[Pulled]) -> None:
    """Return unhandled messages to the queue (the batch could not be taken)."""
    for item in pulled:
        try:
            item.message.requeue()
        except Exception:
            logger.warning("could not give back %s", item.message_id, exc_info=True)
            _forget_connection()
            return
