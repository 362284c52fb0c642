"""What the broker says of the queues: how many messages wait in each, and who consumes them.

Read by the Prometheus scrape (orchestrator.scrape) and by the dashboard's Workers panel.
"""

from __future__ import annotations

import math

from django.conf import settings

from orchestrator.commands import queues_all


def broker_url() -> str:
    from config.celery import app

    return str(app.conf.broker_url or settings.CELERY_BROKER_URL)


def queue_depths(*, timeout: float) -> dict[str, tuple[int, int | None]]:
    """Each queue's (depth, consumers) as the broker tells: LLEN of its lists on Redis (consumers
    unknown: Redis does not count them), a passive declare on RabbitMQ. Raises when the broker
    does not answer; {} for the in-memory broker."""
    url = broker_url()
    if url.startswith(("redis://", "rediss://")):
        return _redis_depths(url, timeout)
    if url.startswith("amqp://"):
        return _amqp_depths(url, timeout)
    return {}


def _redis_depths(url: str, timeout: float) -> dict[str, tuple[int, int | None]]:
    import redis
    from kombu.transport.redis import PRIORITY_STEPS

    # kombu's layout: the queue's list, and one per priority step (name, separator, step).
    keys = {
        queue: [queue] + [f"{queue}\x06\x16{step}" for step in PRIORITY_STEPS if step]
        for queue in queues_all()
    }
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        pipe = client.pipeline(transaction=False)
        for names in keys.values():
            for name in names:
                pipe.llen(name)
        lengths = iter(pipe.execute())
        return {queue: (sum(next(lengths) for _ in names), None) for queue, names in keys.items()}
    finally:
        client.close()


def _amqp_depths(url: str, timeout: float) -> dict[str, tuple[int, int | None]]:
    from kombu import Connection

    depths: dict[str, tuple[int, int | None]] = {}
    with Connection(url, connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, timeout=math.ceil(timeout))
        for queue in queues_all():
            with connection.channel() as channel:  # a refused passive declare closes its channel
                try:
                    _, count, consumers = channel.queue_declare(queue=queue, passive=True)  # type: ignore[attr-defined]
                except connection.channel_errors:
                    continue
                depths[queue] = (int(count), int(consumers))
    return depths
