"""The customer's checkout page: book without logging in, then follow only that booking."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from booking.checkout import status_token
from booking.models import Booking
from tests.support.engine import answer, last_command

pytestmark = pytest.mark.usefixtures("trip_workflows")


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> None:
    cache.clear()


def form(**changes: str) -> dict[str, str]:
    """The form as a browser sends it: each showing of the page has its own nonce."""
    return {
        "customer_name": "Grace Hopper",
        "customer_email": "grace@example.com",
        "trip": "lisbon-athens",
        "depart_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        "nonce": str(uuid.uuid4()),
        **changes,
    }


def test_the_form_books_a_trip_and_leads_to_its_progress(client: Client) -> None:
    assert client.get("/book/").status_code == 200
    response = client.post("/book/", form())
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.amount, booking.itinerary["destination"]) == (540, "ATH")
    assert response["Location"] == f"/book/status/{status_token(booking)}/"
    page = client.get(response["Location"]).content.decode()
    assert booking.reference in page and "We are booking your trip" in page
    assert 'hx-trigger="every 1s"' in page  # it follows the saga until it ends


def test_progress_in_the_customers_words_until_the_end(client: Client) -> None:
    client.post("/book/", form())
    booking = Booking.objects.get()
    assert booking.process is not None
    url = f"/book/status/{status_token(booking)}/"
    answer(last_command(booking.process, "payment"), payment_id="pay_1", amount="540.00", currency="EUR")
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert re.search(r"Payment</strong> <span class=\"detail\">paid 540.00 EUR", fragment)
    assert fragment.lstrip().startswith('<section id="progress"')
    answer(last_command(booking.process, "flight"), pnr="XY12ZQ")
    answer(last_command(booking.process, "hotel"), confirmation="H1")
    answer(last_command(booking.process, "notify"), notification_id="1", to="grace@example.com")
    final = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Your trip is booked" in final and "PNR XY12ZQ" in final
    assert "hx-trigger" not in final  # nothing more to wait for


def test_another_bookings_page_cannot_be_guessed(client: Client) -> None:
    client.post("/book/", form())
    booking = Booking.objects.get()
    assert client.get(f"/book/status/{booking.pk}/").status_code == 404
    assert client.get(f"/book/status/{status_token(booking)[:-2]}xx/").status_code == 404


def test_bad_input_is_shown_and_books_nothing(client: Client) -> None:
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post("/book/", form(customer_email="nope", depart_on=yesterday, trip="moon"))
    assert response.status_code == 422
    page = response.content.decode()
    assert "Enter a valid email address" in page and "Choose a day from tomorrow on" in page
    assert "Select a valid choice" in page
    assert not Booking.objects.exists()


def test_the_form_is_rate_limited_per_client(client: Client, settings: object) -> None:
    settings.CHECKOUT_BOOKINGS_PER_MINUTE = 2  # type: ignore[attr-defined]
    assert [client.post("/book/", form()).status_code for _ in range(3)] == [302, 302, 429]
    assert Booking.objects.count() == 2


def test_the_form_needs_its_csrf_token(db: None) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/book/", form()).status_code == 403
    assert not Booking.objects.exists()


def test_a_double_submit_books_once(client: Client) -> None:
    sent = form()
    first, second = client.post("/book/", sent), client.post("/book/", sent)
    assert first["Location"] == second["Location"]
    assert Booking.objects.count() == 1


def test_the_same_form_resent_with_other_details_is_refused(client: Client) -> None:
    sent = form()
    client.post("/book/", sent)
    response = client.post("/book/", {**sent, "trip": "berlin-tokyo"})
    assert response.status_code == 409
    assert Booking.objects.count() == 1


def test_a_closed_workflow_is_a_polite_503_not_a_crash(client: Client) -> None:
    from orchestrator.models import WorkflowDefinition

    WorkflowDefinition.objects.update(status="retired")
    response = client.post("/book/", form())
    assert response.status_code == 503
    assert b"Booking is closed for a moment" in response.content


def test_a_step_an_operator_skipped_shows_as_done(client: Client) -> None:
    from dataclasses import replace

    from booking.checkout import progress
    from orchestrator.engine.codec import state_from_json, state_to_json
    from orchestrator.status import StepStatus

    client.post("/book/", form())
    booking = Booking.objects.select_related("process").get()
    assert booking.process is not None
    state = state_from_json(booking.process.state)
    state.steps["flight"] = replace(state.steps["flight"], status=StepStatus.SKIPPED)
    state.context["flight"] = {"pnr": "PHONE1"}
    booking.process.state = state_to_json(state)
    lines = dict((label, (mark, detail)) for label, mark, detail in progress(booking)["lines"])
    assert lines["Flight"] == ("done", "booked, PNR PHONE1")


def test_the_link_to_a_booking_expires_and_is_never_indexed(
    client: Client, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    client.post("/book/", form())
    booking = Booking.objects.get()
    fresh = client.get(f"/book/status/{status_token(booking)}/")
    assert fresh.status_code == 200 and fresh["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in fresh.content.decode()
    settings.CHECKOUT_LINK_DAYS = 30  # type: ignore[attr-defined]
    # The link of an e-mail sent 31 days ago.
    month_ago = time.time() - 31 * 24 * 3600
    with monkeypatch.context() as then:
        then.setattr(time, "time", lambda: month_ago)  # what the signer reads
        old_token = status_token(booking)
    expired = client.get(f"/book/status/{old_token}/")
    assert expired.status_code == 410
    page = expired.content.decode()
    assert "This link has expired" in page and booking.reference not in page
    assert expired["X-Robots-Tag"] == "noindex, nofollow"


def test_a_reference_that_is_already_a_processs_key_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from decimal import Decimal

    from booking import bookings
    from orchestrator.processes import process_start
    from tests.support.engine import trip_input

    squatter, _ = process_start(workflow="trip-booking", business_key="TRP-AAAAAA", input=trip_input())
    drawn = iter(["TRP-AAAAAA", "TRP-BBBBBB"])
    monkeypatch.setattr(bookings, "booking_reference_new", lambda: next(drawn))
    booking = bookings.booking_create(
        customer_name="Grace Hopper",
        customer_email="grace@example.com",
        itinerary={},
        amount=Decimal("10.00"),
        currency="EUR",
    )
    assert booking.reference == "TRP-BBBBBB"
    assert booking.process_id != squatter.pk and booking.process is not None
    assert booking.process.business_key == "TRP-BBBBBB"
    assert Booking.objects.count() == 1
