"""Publishing the hot path's messages: commands to services, replies to the orchestrator.

They are Celery task messages (protocol 2), so that a worker runs them as any task, but built and
published here rather than through `app.send_task`, which costs several times the publish itself
per message (routing, signals, a repr of the arguments, a retrying publish). Several messages go
out together: on Redis in one pipeline (kombu's `Producer.batch`), one round trip for all of them.

Each thread keeps its producer and the broker connection under it (taking one from Celery's pool
and declaring the queue for each publish cost more than the round trip to Redis); when a kept
connection fails (the broker restarted while it sat idle), it is dropped and the publish tried
once more on a new one.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from celery.utils.nodenames import anon_nodename

from orchestrator.messages import message_published

# What a task message's body carries besides its arguments (protocol 2): no callbacks or chain.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = anon_nodename()


@dataclass(frozen=True)
class Outgoing:
    """One task message: the task run with one argument (a JSON envelope), on a queue."""

    task: str
    task_id: str
    arg: Any
    queue: str


def _headers(message: Outgoing, together: int = 1) -> dict[str, Any]:
    return {
        "lang": "py",
        "task": message.task,
        "id": message.task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": message.task_id,
        "parent_id": None,
        "argsrepr": "",
        "kwargsrepr": "",
        "origin": _ORIGIN,
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
        # When it left, and with how many others: the worker that takes it judges by these
        # whether others wait behind it (orchestrator.batches.backlog_likely).
        "published_at": time.time(),
        "published_with": together,
    }


class _Held(threading.local):
    """This thread's producer, its process (a forked child must not share the parent's socket)
    and the queues declared on its connection."""

    producer: Any = None
    pid: int = 0
    declared: set[str]


_held = _Held()


def _publish_one(producer: Any, message: Outgoing, together: int = 1, *, declare: bool = True) -> None:
    from config.celery import app

    producer.publish(
        ([message.arg], {}, _EMBED),
        exchange="",  # the default exchange: the routing key is the queue (no routing lookup)
        routing_key=message.queue,
        serializer="json",
        headers=_headers(message, together),
        correlation_id=message.task_id,
        reply_to="",
        delivery_mode=2,  # persistent: a RabbitMQ restart keeps it
        # Declared once per connection: on RabbitMQ a message to a queue not declared yet is lost.
        declare=[app.amqp.queues[message.queue]] if declare else [],
        retry=False,
    )


def _producer() -> tuple[Any, bool]:
    """This thread's producer, opened on first use; and whether it was opened just now."""
    from config.celery import app

    if _held.producer is not None and _held.pid == os.getpid():
        return _held.producer, False
    connection = app.connection_for_write()
    _held.producer, _held.pid, _held.declared = connection.Producer(), os.getpid(), set()
    return _held.producer, True


def _drop_producer() -> None:
    producer, _held.producer = _held.producer, None
    with contextlib.suppress(Exception):  # already broken: nothing more to release
        producer.connection.close()


def _publish_batch(messages: Sequence[Outgoing]) -> bool:
    """Publish on this thread's producer; False when a producer kept from earlier failed (its
    connection went stale: the broker restarted, say), for the caller to try once more."""
    producer, fresh = _producer()
    declared = _held.declared
    try:
        with producer.batch():
            for message in messages:
                _publish_one(producer, message, len(messages), declare=message.queue not in declared)
    except Exception:
        _drop_producer()
        if fresh:
            raise
        return False
    # Declared once the batch went out: a batch that failed declares again next time.
    declared.update(message.queue for message in messages)
    return True


def tasks_publish(messages: Sequence[Outgoing]) -> None:
    """Publish the messages, together (raises when the broker does not take them: none, or not
    all of them, may have gone out; the callers' outbox relay and redeliveries cover that)."""
    if not messages:
        return
    if not _publish_batch(messages):
        _publish_batch(messages)  # on a new connection: raises if this one fails too
    for message in messages:
        message_published(partial(tasks_publish, [message]))
