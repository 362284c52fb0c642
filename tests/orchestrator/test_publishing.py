"""The hot path's publisher keeps one producer per thread and survives a connection gone stale."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import pytest

from orchestrator import publishing
from orchestrator.publishing import Outgoing
from tests.support.services import broker_is_amqp, broker_url

pytestmark = pytest.mark.redis


@pytest.fixture
def queue(redis_url: str) -> Iterator[str]:
    if broker_is_amqp():
        pytest.skip("reads the queue as a Redis list")
    import redis

    from config.celery import app

    name = f"publishing-test-{uuid.uuid4().hex[:8]}"
    app.amqp.queues.select_add(name)  # type: ignore[arg-type]  # a name is taken (the stubs say Queue)
    client = redis.Redis.from_url(broker_url())
    yield name
    client.delete(name)


def _ids_waiting(queue: str) -> list[str]:
    import redis

    raw = redis.Redis.from_url(broker_url()).lrange(queue, 0, -1)
    return sorted(json.loads(message)["headers"]["id"] for message in raw)


def _message(queue: str, n: int) -> Outgoing:
    return Outgoing("orchestrator.event", f"m-{n}", {"n": n}, queue)


def test_publishes_reuse_this_threads_producer(queue: str) -> None:
    publishing.tasks_publish([_message(queue, 1)])
    kept = publishing._held.producer
    publishing.tasks_publish([_message(queue, 2), _message(queue, 3)])
    assert publishing._held.producer is kept
    assert _ids_waiting(queue) == ["m-1", "m-2", "m-3"]

    other: list[object] = []

    def publish_elsewhere() -> None:
        publishing.tasks_publish([_message(queue, 4)])
        other.append(publishing._held.producer)

    thread = threading.Thread(target=publish_elsewhere)
    thread.start()
    thread.join(10)
    assert other and other[0] is not kept, "each thread has a producer of its own"


def test_a_stale_connection_is_replaced_and_the_message_still_goes_out(queue: str) -> None:
    publishing.tasks_publish([_message(queue, 1)])
    stale = publishing._held.producer
    stale.connection.close()  # as a broker restart leaves a connection kept from before
    publishing.tasks_publish([_message(queue, 2)])
    assert publishing._held.producer is not stale
    assert _ids_waiting(queue) == ["m-1", "m-2"]


def test_a_broker_away_raises_for_the_caller_to_recover(queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from config.celery import app

    publishing.tasks_publish([_message(queue, 1)])
    publishing._held.producer.connection.close()
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens there
    with pytest.raises(Exception):  # noqa: B017  # whatever the transport raises, it is not swallowed
        publishing.tasks_publish([_message(queue, 2)])
    assert publishing._held.producer is None
    monkeypatch.undo()
    publishing.tasks_publish([_message(queue, 3)])
    assert _ids_waiting(queue) == ["m-1", "m-3"]


def test_a_batch_takes_the_replies_around_a_tick_and_gives_back_only_the_tick(queue: str) -> None:
    from orchestrator.batches import acknowledge, more_messages

    replies = [Outgoing("orchestrator.event", f"r-{n}", {"n": n}, queue) for n in range(4)]
    tick = Outgoing("orchestrator.tick", "t-1", {}, queue)
    publishing.tasks_publish([replies[0], tick, *replies[1:]])
    taken = more_messages(queue, tasks={"orchestrator.event"}, limit=10)
    assert [item.message_id for item in taken] == ["r-0", "r-1", "r-2", "r-3"]
    assert not any(item.redelivered for item in taken)
    assert _ids_waiting(queue) == ["t-1"]
    acknowledge(taken)
