"""The dashboard's pages: who sees them, filters, search, pages, a process's details."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from booking.models import Booking
from orchestrator.models import ProcessInstance
from tests.support.bookings import FRAGILE_TRIP, book
from tests.support.engine import answer, last_command
from tests.support.people import user_with

pytestmark = pytest.mark.usefixtures("fragile_workflow")


def rows(html: bytes) -> list[str]:
    return re.findall(r'id="row-([0-9a-f-]{36})"', html.decode())


def test_anonymous_users_are_sent_to_log_in(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_users_who_are_not_staff_are_refused(db: None) -> None:
    response = user_with("carl", staff=False).get("/")
    assert response.status_code == 403
    assert b"staff only" in response.content


def test_staff_without_the_permission_to_read_processes_see_nothing(db: None) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    nobody = user_with("stan")  # staff, no permission at all
    for url in ("/", f"/processes/{process.pk}/", f"/processes/{process.pk}/state/1/", "/services/"):
        response = nobody.get(url)
        assert response.status_code == 403, url
        assert b"Ada Lovelace" not in response.content


def test_customers_and_the_ledger_need_the_permission_to_read_bookings(db: None) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    answer(last_command(process, "payment"), payment_id="pay_SECRET", amount="420.00", currency="EUR")
    reader = user_with("rita", permissions=["view_processinstance"])
    listing = reader.get("/").content.decode()
    assert str(process.pk) in listing and "ada@example.com" not in listing
    detail = reader.get(f"/processes/{process.pk}/").content.decode()
    assert "charged 420.00 EUR" not in detail and "booking.view_booking" in detail


def test_the_list_shows_counts_and_rows_newest_first(viewer: Client) -> None:
    first, second = book(FRAGILE_TRIP), book(FRAGILE_TRIP)
    response = viewer.get("/")
    assert response.status_code == 200
    assert rows(response.content) == [str(second.process_id), str(first.process_id)]
    assert re.search(rb'status-running".*?<span class="n">2</span>', response.content, re.S)
    assert b'ws-connect="/ws/live/?' in response.content


@pytest.mark.parametrize("field", ["reference", "email", "payment_id", "pnr", "confirmation", "process_id"])
def test_search_finds_a_booking_by_what_a_customer_may_quote(viewer: Client, field: str) -> None:
    wanted = book(FRAGILE_TRIP, customer_email="grace@example.com")
    book(FRAGILE_TRIP)  # another one, which must not match
    process = wanted.process
    assert process is not None
    answer(last_command(process, "payment"), payment_id="pay_QUOTED", amount="420.00", currency="EUR")
    answer(last_command(process, "flight"), pnr="PNR123")
    answer(last_command(process, "hotel"), confirmation="H7654321")
    query = {
        "reference": wanted.reference,
        "email": "grace@example.com",
        "payment_id": "pay_QUOTED",
        "pnr": "pnr123",
        "confirmation": "h7654321",
        "process_id": str(process.pk),
    }[field]
    assert rows(viewer.get("/", {"q": query}).content) == [str(process.pk)]


def test_filters_narrow_the_list(viewer: Client) -> None:
    waiting, running = book(FRAGILE_TRIP), book(FRAGILE_TRIP)
    answer(last_command(waiting.process, "payment"), succeeded=False)  # type: ignore[arg-type]
    assert rows(viewer.get("/", {"status": "waiting"}).content) == [str(waiting.process_id)]
    assert rows(viewer.get("/", {"waiting": "on"}).content) == [str(waiting.process_id)]
    assert rows(viewer.get("/", {"step": "payment"}).content) == [
        str(running.process_id),
        str(waiting.process_id),
    ]
    assert rows(viewer.get("/", {"workflow": "trip-booking"}).content) == []
    assert rows(viewer.get("/", {"version": "1", "workflow": "fragile-trip"}).content) != []


def test_bad_filter_values_are_shown_not_crashed_on(viewer: Client) -> None:
    book(FRAGILE_TRIP)
    response = viewer.get("/", {"version": "seven", "created_after": "yesterday", "cursor": "%%%"})
    assert response.status_code == 200
    assert b"version" in response.content and b"Enter a whole number" in response.content


def test_keyset_pages_walk_the_whole_list_without_overlap(viewer: Client) -> None:
    booked = [book(FRAGILE_TRIP) for _ in range(53)]
    first = viewer.get("/")
    page_one = rows(first.content)
    cursor = re.search(rb"cursor=([A-Za-z0-9_=-]+)", first.content)
    assert cursor is not None
    page_two = rows(viewer.get("/", {"cursor": cursor.group(1).decode()}).content)
    assert len(page_one) == 50 and len(page_two) == 3
    assert set(page_one) | set(page_two) == {str(b.process_id) for b in booked}


def test_new_filters_bring_rows_and_a_socket_for_those_filters(viewer: Client) -> None:
    """The filter form swaps the rows with their socket: the live pushes that follow come for the
    new filters, not for those the page was loaded with."""
    book(FRAGILE_TRIP)
    response = viewer.get(
        "/", {"status": "running", "q": "TRP"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="live-rows"
    )
    html = response.content.decode().lstrip()
    assert html.startswith('<div id="live-rows" hx-ext="ws" ws-connect="/ws/live/?status=running&amp;q=TRP"')
    assert '<section id="process-rows"' in html


def test_process_detail_shows_graph_steps_history_and_ledger(viewer: Client) -> None:
    booking = book(FRAGILE_TRIP)
    process = booking.process
    assert process is not None
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    page = viewer.get(f"/processes/{process.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-step="payment" data-status="succeeded"' in html
    assert 'data-step="flight" data-status="running"' in html
    assert 'id="event-2"' in html and "step.succeeded" in html
    assert booking.reference in html and "Ada Lovelace" in html
    assert "What the services did" in html


def test_state_at_an_event_is_replayed_from_the_history(viewer: Client) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    at_start = viewer.get(f"/processes/{process.pk}/state/1/").content.decode()
    assert "State after event #1" in at_start
    assert re.search(r"payment</td><td><span class=\"badge status-running\"", at_start)
    after_payment = viewer.get(f"/processes/{process.pk}/state/2/").content.decode()
    assert re.search(r"payment</td><td><span class=\"badge status-succeeded\"", after_payment)
    assert viewer.get(f"/processes/{process.pk}/state/99/").status_code == 404


def test_unknown_process_is_a_404_page(viewer: Client) -> None:
    response = viewer.get("/processes/6f1c1c1e-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert b"Nothing lives at this address" in response.content


def test_list_stays_fast_in_queries(viewer: Client, django_assert_max_num_queries: object) -> None:
    for _ in range(30):
        book(FRAGILE_TRIP)
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        viewer.get("/")
    assert ProcessInstance.objects.count() == Booking.objects.count() == 30


def test_a_cursor_with_a_damaged_id_restarts_from_the_first_page(viewer: Client) -> None:
    import base64

    book(FRAGILE_TRIP)
    cursor = base64.urlsafe_b64encode(b"2030-01-01T00:00:00+00:00|nope").decode()
    assert viewer.get("/", {"cursor": cursor}).status_code == 200


def test_the_state_at_an_event_says_when_the_process_was_recorded_under_other_rules(
    viewer: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    assert "rules version" not in viewer.get(f"/processes/{process.pk}/state/1/").content.decode()
    from dashboard.views import process as process_views

    monkeypatch.setattr(process_views, "RULES_VERSION", 2)  # as after a change of the rules
    page = viewer.get(f"/processes/{process.pk}/state/1/").content.decode()
    assert "recorded under the engine&#x27;s rules version 1" in page
    assert "replays its history under version 2" in page


def test_the_live_badge_says_connecting_until_the_socket_opens(viewer: Client) -> None:
    """The page is served before its socket connects: the badge must not claim to be live yet
    (the browser test follows it to live, to reconnecting and back)."""
    html = viewer.get("/").content.decode()
    badge = re.search(r'<span class="live-state" id="live-state" data-state="(\w+)"[^>]*>([^<]*)<', html)
    assert badge is not None
    assert badge.groups() == ("connecting", "○ connecting…")
    # A page without a socket has no badge, rather than one connecting for ever.
    assert 'id="live-state"' not in viewer.get("/charts/").content.decode()


def test_a_paused_process_cancelled_says_a_resume_runs_the_cancellation(db: None) -> None:
    from orchestrator.actions import ActionName
    from orchestrator.processes import operator_act
    from tests.support.people import OPERATOR_PERMISSIONS, an_operator

    process = book(FRAGILE_TRIP).process
    assert process is not None
    operator = an_operator()
    for action in (ActionName.PAUSE, ActionName.CANCEL):
        operator_act(process_id=str(process.pk), action=action, user=operator, reason="the customer called")
    page = (
        user_with("olga", permissions=OPERATOR_PERMISSIONS).get(f"/processes/{process.pk}/").content.decode()
    )
    assert 'data-status="paused"' in page
    assert "Paused with its cancellation waiting: nothing is undone until someone resumes it." in page
    assert 'data-action="resume"' in page
