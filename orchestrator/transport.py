"""Nothing a queue holds may end a worker: what cannot be read is kept as a dead letter.

Two places can meet an item that is not a message:

* the Redis transport, which pops an item and decodes its envelope (JSON with a base64 body)
  before any task code runs: raw bytes, a JSON array, JSON nested too deep or a body that is not
  base64 raise there, Celery takes that for an unrecoverable error and the worker exits, with the
  item already popped. `Transport` (selected by `CELERY_BROKER_TRANSPORT` on Redis) checks each
  item as it pops it and keeps what it cannot read;
* Celery's consumer, for a well-formed envelope whose body cannot be decoded (pickle, a content
  type it does not accept) or that names no known task: it logs and drops those. `Consumer`
  (`CELERY_WORKER_CONSUMER`, on every broker) keeps them first.

A kept item is a dead letter with its queue and the reason, for an operator to look at; then the
worker goes on with the next message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from queue import Empty
from time import time
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.serialization import prepare_accept_content
from kombu.transport import redis, virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

KEEP_AT_MOST = 1024 * 1024  # bytes of an item kept in the dead letter; the size is always said
_JSON_ONLY = prepare_accept_content(["json"])


def poison_keep(*, queue: str, raw: bytes | str, reason: str) -> None:
    """Keep an item nobody can take as a dead letter; never raise (the worker must go on)."""
    # Imported here: kombu loads this transport by name, perhaps before Django's models are ready.
    from orchestrator.dead_letters import dead_letter_keep

    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    # Whatever the bytes are, the text kept is valid and storable (no NUL, no surrogates).
    text = data[:KEEP_AT_MOST].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    if len(data) > KEEP_AT_MOST:
        text += f"\n… ({len(data):,} bytes in all; the first {KEEP_AT_MOST:,} are kept)"
    try:
        dead_letter_keep(f"queue {queue}", text, f"{reason} ({len(data):,} bytes)", queue=queue, raw=True)
    except Exception:  # the database is away: the log is all that is left of it
        logger.exception("could not keep an unreadable item from %s (%s): %.2000s", queue, reason, text)


class Channel(redis.Channel):
    """kombu's Redis channel, checking each item it pops before delivering it, with one client
    for all its commands."""

    def _create_client(self, asynchronous: bool = False) -> Any:
        """The channel's client. kombu builds a new redis-py client for every publish, pop and
        acknowledgement, and building one (its table of a few hundred response callbacks) costs
        more than the command's round trip; a client holds no connection of its own, it borrows
        one from the channel's pool for each command, so one serves them all (thread-safe, as
        the pool is). A new pool (after a reconnection) gets a new client."""
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        cached = getattr(self, "_client_for_pool", None)
        if cached is None or cached[0] is not pool:
            cached = self._client_for_pool = (pool, super()._create_client())
        return cached[1]

    def _readable(self, item: bytes, queue: str) -> dict[str, Any] | None:
        """The item's envelope, or None once it is kept as a dead letter."""
        try:
            payload = loads(bytes_to_str(item))
            # Builds the message as the consumer will: properties, delivery tag, body encoding.
            message = self.Message(payload, channel=self)
            info = message.delivery_info
            info["exchange"], info["routing_key"]
        except Exception as exc:  # anything at all, RecursionError included
            poison_keep(queue=queue, raw=item, reason=f"not a message: {type(exc).__name__}: {exc}"[:500])
            return None
        return payload

    def _brpop_read(self, **options: Any) -> bool:
        # kombu 5.7's own, but for the check before delivering.
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                # A connection error: disconnect so that the next turn reconnects.
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            payload = self._readable(item, dest)
            if payload is not None:
                self.connection._deliver(payload, dest)
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                if item:
                    self._maybe_update_queues_expire(client, queue)
                    payload = self._readable(item, queue)
                    if payload is None:
                        raise Empty()  # kept; the next poll goes on
                    return payload
            self._maybe_update_queues_expire(client, queue)
            raise Empty()

    def messages_take(self, queue: str, limit: int) -> list[Any]:
        """Up to `limit` messages waiting now in `queue`, unacknowledged, in two round trips: one
        pop of them all (Redis 6.2's RPOP with a count) and one pipeline that records each as
        delivered (the unacked index kombu restores from, as for any delivery). kombu's basic_get
        costs a pop per priority level and a transaction per message. Only the default priority's
        list is read: messages of another priority are the consumer's."""
        with self.conn_or_acquire() as client:
            items = client.rpop(queue, limit) or []
        messages: list[Any] = []
        tags: set[str] = set()
        delivered: dict[str, Any] = self.qos._delivered or {}
        for index, item in enumerate(items):
            payload = self._readable(item, queue)  # a poisoned item is kept as a dead letter
            if payload is None:
                continue
            message = self.Message(payload, channel=self)
            message.accept = _JSON_ONLY  # never unpickle what a queue holds
            tag = str(message.delivery_tag)
            if tag in tags or tag in delivered:
                # A delivery tag twice (a message restored while a copy waited): the unacked
                # record is kept by tag, so the batch ends here and the rest goes back, in order.
                with self.conn_or_acquire() as client:
                    client.rpush(queue, *reversed(items[index:]))
                break
            tags.add(tag)
            messages.append(message)
        if messages:
            now = time()
            with self.conn_or_acquire() as client, client.pipeline() as pipe:
                for message in messages:
                    info = message.delivery_info
                    pipe.zadd(self.unacked_index_key, {message.delivery_tag: now})
                    pipe.hset(
                        self.unacked_key,
                        message.delivery_tag,
                        dumps([message._raw, info["exchange"], info["routing_key"]]),
                    )
                pipe.execute()
            for message in messages:
                virtual.QoS.append(self.qos, message, str(message.delivery_tag))
        return messages

    def messages_ack(self, delivery_tags: Sequence[str]) -> None:
        """Acknowledge several messages in one round trip (kombu: a transaction each)."""
        if not delivery_tags:
            return
        with self.conn_or_acquire() as client, client.pipeline() as pipe:
            for tag in delivery_tags:
                pipe.zrem(self.unacked_index_key, tag).hdel(self.unacked_key, tag)
            pipe.execute()
        for tag in delivery_tags:
            virtual.QoS.ack(self.qos, tag)


class Transport(redis.Transport):
    Channel = Channel


class Consumer(CeleryConsumer):
    """Celery's consumer, keeping what it would drop as a dead letter first."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        _keep_message(message, f"undecodable body: {type(exc).__name__}: {exc}")
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        _keep_message(message, "not a task message")
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        _keep_message(message, f"unknown task: {exc}")
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        _keep_message(message, f"invalid task message: {exc}")
        super().on_invalid_task(body, message, exc)


def _keep_message(message: Any, reason: str) -> None:
    info = getattr(message, "delivery_info", None) or {}
    queue = str(info.get("routing_key") or info.get("exchange") or "?")
    poison_keep(queue=queue, raw=getattr(message, "body", b"") or b"", reason=reason[:500])
