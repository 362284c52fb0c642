"""The faults a scenario injects while its load runs. Each returns how many times it killed each
process on purpose, so that those exits are not counted against the stack."""

from __future__ import annotations

import os
import pickle
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from chaos.infra import Postgres, Redis, Stack
from chaos.load import Load, api_reader, start


@dataclass(frozen=True)
class Scale:
    rate: float  # bookings per second by the load generator, as long as the fault lasts
    api_bookers: int  # API clients booking meanwhile
    fault_seconds: float  # how long a fault lasts (kills go on, clients keep calling)
    beat_pause: float  # seconds beat stays stopped
    api_clients: int  # concurrent readers in the API scenario
    drain_timeout: float  # seconds every booking has to end after the load


# About a third of what this machine handles (README, "Operating it"): room left for the faults.
FULL = Scale(rate=4, api_bookers=2, fault_seconds=30, beat_pause=60, api_clients=100, drain_timeout=300)
SHORT = Scale(rate=4, api_bookers=1, fault_seconds=12, beat_pause=20, api_clients=100, drain_timeout=240)


@dataclass
class World:
    stack: Stack
    postgres: Postgres
    redis: Redis
    scale: Scale
    rng: random.Random
    token: str


Fault = Callable[[World, Load, float], Counter[str]]


def _until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


def kill_workers(world: World, load: Load, until: float) -> Counter[str]:
    """SIGKILL a random worker every 2 to 3 seconds, as the out-of-memory killer would."""
    killed: Counter[str] = Counter()
    while time.monotonic() < until:
        name = world.rng.choice(world.stack.workers())
        pid = world.stack.pid(name)
        if pid:
            os.kill(pid, signal.SIGKILL)
            killed[name.split(":")[-1]] += 1
        time.sleep(world.rng.uniform(2.0, 3.0))
    return killed


def broker_restarts(world: World, load: Load, until: float) -> Counter[str]:
    """The broker restarts twice, keeping nothing: every queued message is lost."""
    third = world.scale.fault_seconds / 3
    time.sleep(third)
    world.redis.restart()
    time.sleep(third)
    world.redis.restart()
    _until(until)
    return Counter()


def postgres_restart(world: World, load: Load, until: float) -> Counter[str]:
    time.sleep(world.scale.fault_seconds / 3)
    world.postgres.restart()
    _until(until)
    return Counter()


def rolling_restart(world: World, load: Load, until: float) -> Counter[str]:
    """Every process in turn gets SIGTERM (a deployment) and is started again."""
    for name in world.stack.names():
        world.stack.ctl("restart", name)
        time.sleep(1.0)
    _until(until)
    return Counter()


def poison(world: World, load: Load, until: float) -> Counter[str]:
    """Items no worker can read, on every queue."""
    import redis

    broker = redis.Redis.from_url(world.redis.url)
    items = [
        b"\xff\xfe not json",
        b"[1, 2, 3]",
        b"[" * 50_000 + b"]" * 50_000,
        b'{"body": "%%% not base64", "properties": {"body_encoding": "base64", "delivery_tag": "x"}}',
        b"x" * 5_000_000,
        pickle.dumps({"task": "payments.charge"}),
    ]
    time.sleep(world.scale.fault_seconds / 4)
    for queue in Stack.queues():
        for item in items:
            broker.lpush(queue, item)
    _until(until)
    return Counter()


def duplicates(world: World, load: Load, until: float) -> Counter[str]:
    """Every message delivered twice, half of the copies up to 12 s late (config.chaos)."""
    from django.core.cache import cache

    from config.chaos import DUPLICATES_KEY

    cache.set(DUPLICATES_KEY, True, timeout=None)
    try:
        _until(until)
    finally:
        cache.delete(DUPLICATES_KEY)
    return Counter()


def beat_stopped(world: World, load: Load, until: float) -> Counter[str]:
    """No timer fires and the relay sleeps: retries and timeouts wait for beat to come back."""
    world.stack.ctl("stop", "beat")
    time.sleep(world.scale.beat_pause)
    world.stack.ctl("start", "beat")
    _until(until)
    return Counter()


def api_crowd(world: World, load: Load, until: float) -> Counter[str]:
    """A hundred API clients at once, reading the process list, beside the bookers."""
    for _ in range(world.scale.api_clients):
        start(load, api_reader, port=world.stack.port, token=world.token, until=until)
    _until(until)
    return Counter()


SCENARIOS: dict[str, Fault] = {
    "kill-workers": kill_workers,
    "broker-restarts": broker_restarts,
    "postgres-restart": postgres_restart,
    "rolling-restart": rolling_restart,
    "poison": poison,
    "duplicates": duplicates,
    "beat-stopped": beat_stopped,
    "api-crowd": api_crowd,
}
