"""Load during a scenario: the load generator's bookings, and API clients booking and reading."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import connection

from booking.trip import SAMPLE_BOOKING

TRIP: dict[str, Any] = SAMPLE_BOOKING


@dataclass
class Load:
    """What the load of one scenario started and saw; filled in by several threads."""

    booking_ids: list[str] = field(default_factory=list)  # every booking acknowledged to its client
    statuses: Counter[str] = field(default_factory=Counter)  # HTTP answers, and client errors
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def add(self, booking_id: str) -> None:
        with self.lock:
            self.booking_ids.append(booking_id)

    def saw(self, status: str) -> None:
        with self.lock:
            self.statuses[status] += 1

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def generate(load: Load, *, bookings: int, rate: float, workflow: str, seed: int) -> None:
    """The load generator: `bookings` bookings at `rate` per second, straight through the service
    layer, riding out a database that goes away."""
    from booking.bookings import booking_create
    from booking.simulation import patiently
    from booking.trip import trip_random

    rng = random.Random(seed)
    began = time.monotonic()
    try:
        for index in range(bookings):
            pause = began + index / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            booking = patiently(partial(booking_create, workflow=workflow, **trip_random(rng)), "a booking")
            load.add(str(booking.pk))
    finally:
        connection.close()


def api_booker(load: Load, *, port: int, token: str, workflow: str, until: float, name: str) -> None:
    """A shop booking through the API, retrying each booking with its Idempotency-Key until it
    gets an answer (a 503 while the database restarts, a refused connection while the web server
    restarts): so a booking it was told about is never lost, and none is made twice."""
    body = json.dumps({**TRIP, "workflow": workflow})
    sent = 0
    while time.monotonic() < until:
        sent += 1
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"{name}-{sent}",
        }
        for _ in range(120):
            status, answer = _call(port, "POST", "/api/bookings", body, headers)
            load.saw(status)
            if status in ("200", "201"):
                load.add(str(answer["id"]))
                break
            if status.startswith("4"):
                break  # refused for good: counted, and the check says so
            time.sleep(0.5)
        time.sleep(random.uniform(0.2, 0.6))


def api_reader(load: Load, *, port: int, token: str, until: float) -> None:
    """An operator's script reading the process list as fast as it can."""
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < until:
        status, _ = _call(port, "GET", "/api/processes", None, headers)
        load.saw(status)


def _call(port: int, method: str, path: str, body: str | None, headers: dict[str, str]) -> tuple[str, Any]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        client.request(method, path, body, headers)
        response = client.getresponse()
        raw = response.read()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        return str(response.status), answer
    except (OSError, http.client.HTTPException) as exc:
        return f"client error {type(exc).__name__}", None
    finally:
        client.close()


def start(load: Load, target: Any, **kwargs: Any) -> None:
    thread = threading.Thread(target=target, args=(load,), kwargs=kwargs, daemon=True)
    thread.start()
    load.threads.append(thread)
