"""The live websocket: staff only, and closed when its browser session logs out."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client

from config.asgi import application
from dashboard.consumers import CLOSE_FORBIDDEN, CLOSE_LOGGED_OUT

ORIGIN = (b"origin", b"http://127.0.0.1")


def session_cookie_for(*, staff: bool, may_read: bool = True) -> tuple[bytes, bytes]:
    user = get_user_model().objects.create_user(
        username="staff" if staff else "customer", password="pw-123456789", is_staff=staff
    )
    if may_read:
        user.user_permissions.set(Permission.objects.filter(codename="view_processinstance"))
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def communicator(*headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/live/", headers=[ORIGIN, *headers])


@pytest.fixture
def staff_cookie(transactional_db: None) -> tuple[bytes, bytes]:
    return session_cookie_for(staff=True)


@pytest.fixture
def unreadable_staff_cookie(transactional_db: None) -> tuple[bytes, bytes]:
    return session_cookie_for(staff=True, may_read=False)


@pytest.fixture
def non_staff_cookie(transactional_db: None) -> tuple[bytes, bytes]:
    return session_cookie_for(staff=False)


@pytest.mark.asyncio
async def test_anonymous_socket_is_refused(transactional_db: None) -> None:
    ws = communicator()
    connected, code = await ws.connect()
    assert connected is False
    assert code == CLOSE_FORBIDDEN


@pytest.mark.asyncio
async def test_logged_in_non_staff_socket_is_refused(non_staff_cookie: tuple[bytes, bytes]) -> None:
    ws = communicator(non_staff_cookie)
    connected, code = await ws.connect()
    assert connected is False
    assert code == CLOSE_FORBIDDEN


@pytest.mark.asyncio
async def test_staff_without_the_permission_to_read_processes_are_refused(
    unreadable_staff_cookie: tuple[bytes, bytes],
) -> None:
    ws = communicator(unreadable_staff_cookie)
    connected, code = await ws.connect()
    assert connected is False
    assert code == CLOSE_FORBIDDEN


@pytest.mark.asyncio
async def test_staff_socket_is_accepted(staff_cookie: tuple[bytes, bytes]) -> None:
    ws = communicator(staff_cookie)
    connected, _ = await ws.connect()
    assert connected is True
    await ws.disconnect()


@pytest.mark.asyncio
async def test_socket_from_a_foreign_origin_is_refused(staff_cookie: tuple[bytes, bytes]) -> None:
    ws = WebsocketCommunicator(
        application, "/ws/live/", headers=[(b"origin", b"http://evil.example"), staff_cookie]
    )
    connected, _ = await ws.connect()
    assert connected is False


@pytest.mark.asyncio
async def test_logging_out_closes_that_sessions_socket(staff_cookie: tuple[bytes, bytes]) -> None:
    from asgiref.sync import sync_to_async

    ws = communicator(staff_cookie)
    connected, _ = await ws.connect()
    assert connected is True

    def log_out() -> int:
        client = Client()
        client.cookies["sessionid"] = staff_cookie[1].decode().split("=", 1)[1]
        try:
            return client.post("/logout/").status_code
        finally:
            connection.close()  # this worker thread's own connection

    assert await sync_to_async(log_out)() == 302  # to the login page
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CLOSE_LOGGED_OUT}


@pytest.mark.asyncio
async def test_a_socket_consumer_stops_whenever_it_is_cancelled(redis_url: str) -> None:
    """A browser may leave at any moment, even while the layer is sending a command to Redis.
    The consumer's wait on the layer must end on cancellation, never poll Redis on forever."""
    from channels_redis.core import RedisChannelLayer
    from django.conf import settings

    config = cast(dict[str, Any], settings.CHANNEL_LAYERS["default"]["CONFIG"])
    stuck = []
    for attempt in range(60):
        layer = RedisChannelLayer(**config)
        waiting = asyncio.ensure_future(layer.receive(await layer.new_channel()))
        await asyncio.sleep(0.001 * (attempt % 4))  # connecting, handshaking, sending, blocked
        waiting.cancel()
        done, _ = await asyncio.wait([waiting], timeout=2)
        if done:
            await layer.close_pools()
        else:
            stuck.append(attempt)
    assert stuck == [], f"{len(stuck)} of 60 waits went on after they were cancelled"
