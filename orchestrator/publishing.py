"""Publishing the hot path's messages: commands to services, replies to the orchestrator.

They are Celery task messages (protocol 2), so that a worker runs them as any task, but built and
published here rather than through `app.send_task`, which costs several times the publish itself
per message (routing, signals, a repr of the arguments, a retrying publish). Several messages go
out together: on Redis in one pipeline (kombu's `Producer.batch`), one round trip for all of them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


def _publish_one(producer: Any, message: Outgoing, together: int = 1) -> None:
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
        declare=[app.amqp.queues[message.queue]],
        retry=False,
    )


@contextmanager
def _producer(producer: Any = None) -> Iterator[Any]:
    if producer is not None:
        yield producer
        return
    from config.celery import app

    with app.producer_or_acquire() as acquired:
        yield acquired


def tasks_publish(messages: Sequence[Outgoing], *, producer: Any = None) -> None:
    """Publish the messages, together (raises when the broker does not take them: none, or not
    all of them, may have gone out; the callers' outbox relay and redeliveries cover that)."""
    if not messages:
        return
    with _producer(producer) as chosen, chosen.batch():
        for message in messages:
            _publish_one(chosen, message, len(messages))
    for message in messages:
        message_published(partial(tasks_publish, [message]))
