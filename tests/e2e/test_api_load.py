"""A hundred API clients at once for 30 seconds against a production-mode server: not one 5xx,
and the server never holds more PostgreSQL connections than its pool allows."""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from api.models import ApiToken
from tests.support.processes import WatchedProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 100
BOOKERS = 10  # of them, those who book trips; the others read the process list
SECONDS = 30.0
POOL = 8

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

TRIP = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "itinerary": {"origin": "CDG", "destination": "JFK", "depart_on": "2027-01-10"},
    "amount": "420.00",
    "currency": "EUR",
}


def a_token() -> str:
    user = get_user_model().objects.create_user("shop")
    wanted = ["add_booking", "view_processinstance"]
    user.user_permissions.set(Permission.objects.filter(codename__in=wanted))
    return ApiToken.issue(user=user, name="load")[1]


def client_loop(port: int, token: str, books: bool, index: int, until: float, seen: Counter[str]) -> None:
    """One client: requests back to back on a kept-alive connection until the time is up."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sent = 0
    while time.monotonic() < until:
        try:
            if books:
                sent += 1
                key = {"Idempotency-Key": f"client-{index}-order-{sent}"}
                connection.request("POST", "/api/bookings", json.dumps(TRIP), {**headers, **key})
            else:
                connection.request("GET", "/api/processes", headers=headers)
            response = connection.getresponse()
            response.read()
            seen[str(response.status)] += 1
        except (OSError, http.client.HTTPException) as exc:
            seen[f"error {type(exc).__name__}"] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.close()


def test_a_hundred_clients_get_no_5xx_within_a_bounded_pool(
    production_env: dict[str, str], trip_workflows: None, postgres_url: str
) -> None:
    token = a_token()
    port = free_port()
    env = {**production_env, "DATABASE_POOL_MAX_SIZE": str(POOL), "DATABASE_APPLICATION_NAME": "load-web"}
    server = WatchedProcess(
        [sys.executable, "manage.py", "serve", "--port", str(port)], env=env, cwd=ROOT
    ).start()
    peak = 0
    stop = threading.Event()

    def watch_connections() -> None:
        nonlocal peak
        with psycopg.connect(postgres_url, autocommit=True) as watcher:
            while not stop.wait(0.1):
                (count,) = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'load-web'"
                ).fetchone() or (0,)
                peak = max(peak, count)

    try:
        server.wait_for_line(rf"Uvicorn running on http://127\.0\.0\.1:{port}", timeout=60)
        seen: Counter[str] = Counter()
        until = time.monotonic() + SECONDS
        watcher = threading.Thread(target=watch_connections, daemon=True)
        watcher.start()
        clients = [
            threading.Thread(target=client_loop, args=(port, token, i < BOOKERS, i, until, seen))
            for i in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(SECONDS + 90)
        stop.set()
        watcher.join(5)
    finally:
        server.interrupt()
    failures = {status: n for status, n in seen.items() if not status.startswith(("2", "4"))}
    assert failures == {}, (failures, dict(seen))
    assert seen["200"] > 1000 and seen["201"] > 100, dict(seen)
    assert 0 < peak <= POOL, f"the server held {peak} connections; its pool allows {POOL}"
