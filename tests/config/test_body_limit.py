"""Request bodies are limited before any view runs, by declared length and by bytes received."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from booking.models import Booking
from config.asgi import application
from tests.support.bookings import API_TRIP

pytestmark = pytest.mark.usefixtures("trip_workflows")
T = TypeVar("T")


def in_thread(function: Callable[[], T]) -> Callable[[], T]:
    """`function`, closing the database connection of the worker thread it runs in afterwards:
    the test database must be free to drop at the end."""

    def run() -> T:
        try:
            return function()
        finally:
            connection.close()

    return run


async def call(path: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, bytes, int]:
    """Run the real ASGI application; returns the status, the body and how many chunks it read."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "127.0.0.1", **headers}.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        await asyncio.Event().wait()  # like a server: the client stays until the answer is sent
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_declared_length_over_the_limit_is_refused_before_reading_anything() -> None:
    status, body, read = await call(
        "/api/bookings", [b"x" * 1024], {"content-length": str(50 * 1024 * 1024), "authorization": "Bearer x"}
    )
    assert (status, read) == (413, 0)
    assert json.loads(body) == {"detail": "The request body is too large."}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_body_without_a_length_is_cut_off_once_it_passes_the_limit(settings: Any) -> None:
    chunks = [b"{" + b" " * 65_535] + [b" " * 65_536] * 40  # 2.6 MB of a JSON document, chunked
    status, _, read = await call("/book/", chunks, {"content-type": "application/x-www-form-urlencoded"})
    assert status == 413
    assert read == settings.MAX_REQUEST_BYTES // 65_536 + 1  # it stopped reading right there
    assert not await sync_to_async(in_thread(Booking.objects.exists))()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_body_within_the_limit_reaches_the_view() -> None:
    token = await sync_to_async(in_thread(a_token))()
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {token}",
        "idempotency-key": "k1",
    }
    status, body, _ = await call("/api/bookings", [json.dumps(API_TRIP).encode()], headers)
    assert status == 201, body
    assert await sync_to_async(in_thread(Booking.objects.count))() == 1


def a_token() -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from api.models import ApiToken

    user = get_user_model().objects.create_user("shop")
    user.user_permissions.set(Permission.objects.filter(codename="add_booking"))
    return ApiToken.issue(user=user, name="shop")[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_length_that_is_not_a_number_is_a_400() -> None:
    status, _, read = await call("/api/bookings", [b"{}"], {"content-length": "lots"})
    assert (status, read) == (400, 0)
