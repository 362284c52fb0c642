"""Live updates over the websocket: a fresh snapshot on connect, pushes on change, coalesced."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from booking.models import Booking
from config.asgi import application
from dashboard import groups
from tests.support.bookings import FRAGILE_TRIP, book
from tests.support.engine import answer, last_command
from tests.support.people import READ_PERMISSIONS, user_with

pytestmark = pytest.mark.usefixtures("fragile_workflow")
ORIGIN = (b"origin", b"http://127.0.0.1")


def cookie_of(client: Client) -> tuple[bytes, bytes]:
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.fixture
def staff_cookie(transactional_db: None, fragile_workflow: str) -> tuple[bytes, bytes]:
    return cookie_of(user_with("stella", permissions=READ_PERMISSIONS))


def book_in_thread() -> Booking:
    try:
        return book(FRAGILE_TRIP)
    finally:
        connection.close()  # this worker thread's own connection, or the test database stays busy


async def receive_until(ws: WebsocketCommunicator, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no message with {needle!r}"
        message = await ws.receive_from(timeout=left)
        if needle in message:
            return message


@pytest.mark.asyncio
async def test_the_list_socket_sends_a_fresh_snapshot_on_connect(staff_cookie: tuple[bytes, bytes]) -> None:
    booking = await sync_to_async(book_in_thread)()
    ws = WebsocketCommunicator(application, "/ws/live/?status=running", headers=[ORIGIN, staff_cookie])
    assert (await ws.connect())[0]
    snapshot = await receive_until(ws, 'id="process-rows"')
    assert 'id="counts"' in snapshot and 'hx-swap-oob="true"' in snapshot
    assert f'id="row-{booking.process_id}"' in snapshot
    await ws.disconnect()


@pytest.mark.asyncio
async def test_a_change_is_pushed_to_the_page_that_shows_it(staff_cookie: tuple[bytes, bytes]) -> None:
    booking = await sync_to_async(book_in_thread)()
    ws = WebsocketCommunicator(
        application, f"/ws/live/?process={booking.process_id}", headers=[ORIGIN, staff_cookie]
    )
    assert (await ws.connect())[0]
    first = await receive_until(ws, 'id="process-header"')
    assert 'id="process-status" data-status="running"' in first
    assert 'id="timeline-rows" role="rowgroup" hx-swap-oob="true"' in first  # the whole history, once

    def payment_fails() -> None:
        try:
            answer(last_command(booking.process, "payment"), succeeded=False)  # type: ignore[arg-type]
        finally:
            connection.close()

    await sync_to_async(payment_fails, thread_sensitive=False)()
    pushed = await receive_until(ws, 'id="process-status" data-status="waiting"')
    assert 'hx-swap-oob="beforeend"' in pushed  # only the new event is appended to the history
    assert 'id="event-2"' in pushed and 'id="event-1"' not in pushed
    await ws.disconnect()


@pytest.mark.asyncio
async def test_a_burst_of_hints_becomes_a_few_pushes(staff_cookie: tuple[bytes, bytes]) -> None:
    ws = WebsocketCommunicator(application, "/ws/live/", headers=[ORIGIN, staff_cookie])
    assert (await ws.connect())[0]
    await receive_until(ws, 'id="counts"')  # the snapshot
    layer = get_channel_layer()
    assert layer is not None
    started = time.monotonic()
    for _ in range(1000):
        await layer.group_send(groups.LIVE, {"type": "processes.changed", "ids": None})
    sent = time.monotonic()
    pushes = 0
    # Count what arrives until a second after the burst (receive_nothing waits without
    # cancelling the consumer, unlike a receive that times out).
    while time.monotonic() < max(started + 1.5, sent + 1.0):
        if not await ws.receive_nothing(timeout=0.05, interval=0.01):
            await ws.receive_from()
            pushes += 1
    window = time.monotonic() - started
    assert pushes >= 1, "the burst was never shown"
    assert pushes / window <= 4, f"{pushes} pushes in {window:.1f} s"
    await ws.disconnect()


@pytest.mark.asyncio
async def test_a_socket_for_an_unknown_process_stays_quiet(staff_cookie: tuple[bytes, bytes]) -> None:
    ws = WebsocketCommunicator(application, "/ws/live/?process=nonsense", headers=[ORIGIN, staff_cookie])
    assert (await ws.connect())[0]
    assert 'id="counts"' in await receive_until(ws, 'id="counts"')  # treated as the list page
    await ws.disconnect()


@pytest.mark.asyncio
async def test_a_socket_closes_once_its_user_is_no_longer_staff(staff_cookie: tuple[bytes, bytes]) -> None:
    from django.contrib.auth import get_user_model

    from dashboard.consumers import CLOSE_FORBIDDEN

    ws = WebsocketCommunicator(application, "/ws/live/", headers=[ORIGIN, staff_cookie])
    assert (await ws.connect())[0]
    await receive_until(ws, 'id="counts"')

    def demote() -> None:
        try:
            get_user_model().objects.filter(username="stella").update(is_staff=False)
        finally:
            connection.close()

    await sync_to_async(demote, thread_sensitive=False)()
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(groups.LIVE, {"type": "processes.changed", "ids": None})
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}


@pytest.mark.asyncio
async def test_a_damaged_cursor_does_not_stop_the_live_page(staff_cookie: tuple[bytes, bytes]) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(b"2030-01-01T00:00:00+00:00|nope").decode()
    ws = WebsocketCommunicator(application, f"/ws/live/?cursor={cursor}", headers=[ORIGIN, staff_cookie])
    assert (await ws.connect())[0]
    assert 'id="process-rows"' in await receive_until(ws, 'id="process-rows"')
    await ws.disconnect()
