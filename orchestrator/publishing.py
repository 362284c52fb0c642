"""Publishing the hot path's messages: commands to services, replies to the orchestrator.

They are Celery task messages (protocol 2), so that a worker runs them as any task, but built and
published here rather than through `app.send_task`, which costs several times the publish itself
per message (routing, signals, a repr of the arguments, a retrying publish). Several messages go
out together: on Redis in one pipeline (kombu's `Producer.batch`), one round trip for all of them.

Each process keeps one producer and the broker connection under it, for one thread at a time
(kombu's producers are not thread-safe): taking one from Celery's pool and declaring the queue for
each publish cost more than the round trip to Redis. A thread that finds it in use publishes
through Celery's pool as before (a web server runs each request in a thread of its own: one kept
producer per thread would leave a connection behind per request). When the kept connection fails
(the broker restarted while it sat idle), it is dropped and the batch sent once more on a new one:
a batch that failed half-way may then go out twice, which the consumers' duplicate checks absorb.
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
from kombu.exceptions import BatchPublishError  # type: ignore[attr-defined]  # not in the stubs

from config.sockets import spoke_while_idle
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


class _Kept:
    """The process's kept producer, its process id (a forked child must not use the parent's
    socket), the queues declared on its connection, and the lock of the thread using it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.producer: Any = None
        self.pid = 0
        self.declared: set[str] = set()


_kept = _Kept()


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


def tasks_publish(messages: Sequence[Outgoing]) -> None:
    """Publish the messages, together (raises when the broker does not take them: none, or not
    all of them, may have gone out; the callers' outbox relay and redeliveries cover that)."""
    if not messages:
        return
    if _kept.lock.acquire(blocking=False):
        try:
            _publish_kept(messages)
        finally:
            _kept.lock.release()
    else:
        _publish_pooled(messages)
    for message in messages:
        message_published(partial(tasks_publish, [message]))


def _publish_pooled(messages: Sequence[Outgoing]) -> None:
    from config.celery import app

    with app.producer_or_acquire() as producer, producer.batch():
        for message in messages:
            _publish_one(producer, message, len(messages))


def _publish_kept(messages: Sequence[Outgoing]) -> None:
    """On the kept producer; a kept connection that fails is replaced and the batch sent again,
    once (one opened just now that fails raises)."""
    while True:
        producer, fresh = _kept_producer()
        failures = _broker_failures(producer)
        try:
            with producer.batch():
                for message in messages:
                    declare = message.queue not in _kept.declared
                    _publish_one(producer, message, len(messages), declare=declare)
        except failures:
            _kept_drop()
            if fresh:
                raise
            continue
        except BaseException:  # a bug or an interrupt, maybe half-way through a frame
            _kept_drop()
            raise
        # Declared once the batch went out: a batch that failed declares again next time.
        _kept.declared.update(message.queue for message in messages)
        return


def _kept_producer() -> tuple[Any, bool]:
    """The kept producer, opened on first use; and whether it was opened just now."""
    from config.celery import app

    if _kept.producer is not None and _kept.pid == os.getpid():
        if not _spoke_while_idle(_kept.producer):
            return _kept.producer, False
        _kept_drop()
    connection = app.connection_for_write()
    _kept.producer, _kept.pid, _kept.declared = connection.Producer(), os.getpid(), set()
    return _kept.producer, True


def _kept_drop() -> None:
    producer, _kept.producer = _kept.producer, None
    if producer is not None and _kept.pid == os.getpid():
        with contextlib.suppress(Exception):  # already broken: nothing more to release
            producer.connection.close()


def _spoke_while_idle(producer: Any) -> bool:
    """Whether the broker spoke on the kept AMQP connection while it sat idle: a publish on a
    connection it closed would be written to the socket and lost without an error. (redis-py
    checks its own idle sockets; other transports have no `sock` here.)"""
    transport = getattr(getattr(producer.connection, "connection", None), "transport", None)
    sock = getattr(transport, "sock", None)
    return sock is not None and spoke_while_idle(sock)


def _broker_failures(producer: Any) -> tuple[type[BaseException], ...]:
    """What a broken connection raises on this transport (a Redis pipeline's failure comes
    wrapped in kombu's BatchPublishError)."""
    connection = producer.connection
    return (*connection.connection_errors, *connection.channel_errors, BatchPublishError)
