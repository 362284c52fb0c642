"""The yardstick: a bare Celery chain of no-op hops, on the engine's broker, without a database.

Each chain is HOPS tasks, each sending the next; the last pushes its start and end times to a
Redis list the benchmark waits on (BLPOP: no polling). Run its workers with
`celery --app bench.chain worker --pool solo --queues bench-chain`.

With BENCH_CHAIN_DURABLE (and BENCH_CHAIN_DATABASE_URL) each hop also writes to PostgreSQL before it
sends the next, the least a durable engine's hop does: 1, one row written and committed in one
round trip; 2, a row locked and read first, in a round trip of its own (as a transition reads the
state it decides on). `python -m bench.floor` compares them.
"""

from __future__ import annotations

import json
import os
import time

import psycopg
import redis
from celery import Celery

HOPS = 8
QUEUE = "bench-chain"
DONE = "bench-chain:done"

BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")
app = Celery("bench-chain", broker=BROKER)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
# The results go to Redis whatever broker Celery was pointed at (CELERY_BROKER_URL overrides it).
_results = redis.Redis.from_url(BROKER)


DURABLE = int(os.environ.get("BENCH_CHAIN_DURABLE", "0"))
_database: list[psycopg.Connection[tuple[object, ...]]] = []


def _written(remaining: int, started: float) -> None:
    """The hop's durable write (BENCH_CHAIN_DURABLE), on the worker's own connection."""
    if not _database:
        _database.append(psycopg.connect(os.environ["BENCH_CHAIN_DATABASE_URL"], autocommit=True))
        _database[0].execute(
            "CREATE TABLE IF NOT EXISTS bench_chain_hops (chain float8, hop int, PRIMARY KEY (chain, hop))"
        )
    # BEGIN and COMMIT go in the statement's own message (the simple query protocol).
    cursor = psycopg.ClientCursor(_database[0])
    if DURABLE >= 2:
        cursor.execute(
            "BEGIN; SELECT hop FROM bench_chain_hops WHERE chain = %s ORDER BY hop LIMIT 1 FOR UPDATE",
            [started],
        )
        cursor.execute("INSERT INTO bench_chain_hops VALUES (%s, %s); COMMIT", [started, remaining])
    else:
        cursor.execute("BEGIN; INSERT INTO bench_chain_hops VALUES (%s, %s); COMMIT", [started, remaining])


@app.task(name="bench.hop")
def hop(remaining: int, started: float) -> None:
    """One hop; the last records the chain's start and end (time.time(): one machine, one clock)."""
    if DURABLE:
        _written(remaining, started)
    if remaining > 1:
        hop.apply_async((remaining - 1, started), queue=QUEUE)
    else:
        _results.rpush(DONE, json.dumps([started, time.time()]))


def chain_start() -> None:
    hop.apply_async((HOPS, time.time()), queue=QUEUE)


def chains_wait(count: int, timeout: float) -> list[tuple[float, float]]:
    """(start, end) of the next `count` chains to finish, as they finish."""
    done: list[tuple[float, float]] = []
    deadline = time.monotonic() + timeout
    while len(done) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{count - len(done)} of {count} chains did not finish in {timeout:.0f} s")
        # At most 2 s a call: redis-py's socket timeout (5 s by default) ends a longer wait in error.
        item = _results.blpop([DONE], timeout=max(1, min(2, int(left))))
        if item is not None:
            started, ended = json.loads(item[1])
            done.append((started, ended))
    return done


def chains_reset() -> None:
    _results.delete(DONE)
