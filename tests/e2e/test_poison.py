"""Nothing a queue can hold ends a worker: each unreadable item is kept as a dead letter, with its
queue and the reason, and the bookings in flight complete."""

from __future__ import annotations

import base64
import json
import pickle

import pytest
import redis

from booking.ledger import money_problems
from booking.models import Booking
from booking.services.registry import service_names
from orchestrator.commands import queues_all
from orchestrator.models import DeadLetter
from tests.support.bookings import FAST_TRIP, book_many, statuses
from tests.support.services import broker_is_amqp, broker_url
from tests.support.waiting import wait_until
from tests.support.workers import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.workers]


def envelope(queue: str, body: str, **changes: object) -> bytes:
    """A kombu envelope as the Redis transport stores it, with some of its fields changed."""
    message = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"task": "payments.charge", "id": "poison", "lang": "py"},
        "properties": {
            "body_encoding": "base64",
            "delivery_tag": f"poison-{queue}",
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
        },
        **changes,
    }
    return json.dumps(message).encode()


def poison(queue: str) -> dict[str, bytes]:
    """Every kind of item that used to end the worker popping it (and a few Celery dropped)."""
    pickled = base64.b64encode(pickle.dumps({"args": [1]})).decode()
    return {
        "raw bytes": b"\xff\xfe not json \x00",
        "a JSON array": b"[1, 2, 3]",
        "deeply nested JSON": b"[" * 100_000 + b"]" * 100_000,
        "a body that is not base64": envelope(queue, "%%% not base64 %%%"),
        "five megabytes": b"x" * 5_000_000,
        "pickle": pickle.dumps({"task": "payments.charge", "args": [1]}),
        "a pickled body": envelope(queue, pickled, **{"content-type": "application/x-python-serialize"}),
        "an unknown task": envelope(
            queue,
            base64.b64encode(b"[[], {}, {}]").decode(),
            headers={"task": "payments.teleport", "id": "t"},
        ),
    }


def amqp_poison() -> dict[str, tuple[bytes, str, dict[str, str]]]:
    """On RabbitMQ the envelope is the protocol's own: what can be wrong is the body, its content
    type, or the task it names. (body, content type, headers) of each."""
    task = {"task": "payments.charge", "id": "poison"}
    return {
        "raw bytes": (b"\xff\xfe not json \x00", "application/json", task),
        "a JSON array": (b"[1, 2, 3]", "application/json", {}),
        "pickle": (pickle.dumps({"args": [1]}), "application/x-python-serialize", task),
        "five megabytes": (b"x" * 5_000_000, "text/plain", {}),
        "an unknown task": (b"[[], {}, {}]", "application/json", {"task": "payments.teleport", "id": "t"}),
    }


def put_poison(queue: str) -> int:
    """Put every kind of poison on `queue`, as it would arrive on this run's broker; how many."""
    if not broker_is_amqp():
        broker = redis.Redis.from_url(broker_url())
        for item in poison(queue).values():
            broker.lpush(queue, item)
        return len(poison(queue))
    from kombu import Producer

    from config.celery import app

    with app.connection_for_write() as connection:
        producer = Producer(connection.default_channel)
        for body, content_type, headers in amqp_poison().values():
            producer.publish(
                body, routing_key=queue, content_type=content_type, content_encoding="binary", headers=headers
            )
    return len(amqp_poison())


def test_poison_on_every_queue_is_kept_and_the_worker_goes_on(cluster: Cluster) -> None:
    for service in service_names():
        cluster.start(service)
    bookings = book_many(5, FAST_TRIP)
    expected = {queue: put_poison(queue) for queue in queues_all()}
    bookings += book_many(5, FAST_TRIP)

    total = sum(expected.values())
    wait_until(lambda: DeadLetter.objects.count() == total, 60, f"{total} dead letters")
    wait_until(lambda: statuses(bookings) == {"completed"}, 60, "every booking to complete")
    for name, process in cluster.processes.items():
        assert process.process is not None and process.process.poll() is None, f"{name} worker exited"
    by_queue = {q: DeadLetter.objects.filter(queue=q).count() for q in queues_all()}
    assert by_queue == expected
    reasons = " ".join(DeadLetter.objects.values_list("reason", flat=True))
    assert "unknown task" in reasons and "Refusing to deserialize untrusted" in reasons
    if not broker_is_amqp():
        assert "JSONDecodeError" in reasons and "RecursionError" in reasons
    for big in DeadLetter.objects.filter(reason__contains="5,000,000 bytes"):  # one per queue
        assert big.body.endswith("(5,000,000 bytes in all; the first 1,048,576 are kept)")
    assert money_problems(Booking.objects.filter(pk__in=[b.pk for b in bookings])) == []
