"""The bookings endpoints."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from booking.models import Booking
from tests.support.api import ApiClient
from tests.support.bookings import API_TRIP
from tests.support.engine import answer, last_command, service_run


def test_create_a_booking(api: ApiClient) -> None:
    response = api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-1")
    assert response.status_code == 201, response.content
    body = response.json()
    booking = Booking.objects.get(pk=body["id"])
    assert body == {
        "id": str(booking.pk),
        "reference": booking.reference,
        "process_id": str(booking.process_id),
        "status": "running",
    }
    assert (booking.currency, booking.itinerary["depart_on"]) == ("EUR", "2027-01-10")


def test_the_same_idempotency_key_returns_the_same_booking(api: ApiClient) -> None:
    first = api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-17")
    again = api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-17")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Booking.objects.count() == 1


def test_an_idempotency_key_reused_for_another_request_is_a_conflict(api: ApiClient) -> None:
    api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-18")
    response = api.call(
        "post", "/api/bookings", {**API_TRIP, "amount": "1.00"}, HTTP_IDEMPOTENCY_KEY="order-18"
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "this Idempotency-Key was used for a different request"}


def test_keys_of_different_clients_do_not_collide(api: ApiClient, make_client: Any) -> None:
    other = make_client("other-system")
    a = api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="1")
    b = other.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="1")
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_email": "not-an-email"}, "customer_email"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"itinerary": {"origin": "CDG"}}, "destination"),
        ({"customer_name": ""}, "customer_name"),
    ],
)
def test_invalid_bookings_are_422_with_the_field(api: ApiClient, change: dict[str, Any], field: str) -> None:
    response = api.call("post", "/api/bookings", {**API_TRIP, **change}, HTTP_IDEMPOTENCY_KEY="order-4")
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "The request is not valid: see errors."
    assert any(field in map(str, error["loc"]) for error in body["errors"]), body
    assert not Booking.objects.exists()


def test_a_body_that_is_not_json_is_422(api: ApiClient) -> None:
    response = api.post(
        "/api/bookings",
        data="{oops",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )
    assert response.status_code in (400, 422)
    assert "detail" in response.json()


def test_an_unknown_workflow_is_a_conflict(api: ApiClient) -> None:
    response = api.call(
        "post", "/api/bookings", {**API_TRIP, "workflow": "space-trip"}, HTTP_IDEMPOTENCY_KEY="order-5"
    )
    assert response.status_code == 409
    assert "no active version of workflow 'space-trip'" in response.json()["detail"]


def test_booking_needs_a_token_and_the_permission(anonymous: ApiClient, powerless: ApiClient) -> None:
    assert anonymous.call("post", "/api/bookings", API_TRIP).status_code == 401
    forbidden = powerless.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-6")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"detail": "You need the permission 'booking.add_booking' for this."}
    assert ApiClient("tok_forged").call("post", "/api/bookings", API_TRIP).status_code == 401


def test_get_a_booking_with_its_ledger(api: ApiClient) -> None:
    created = api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-2").json()
    booking = Booking.objects.get(pk=created["id"])
    assert booking.process is not None

    service_run("payments.charge", last_command(booking.process, "payment").model_dump(mode="json"))
    response = api.call("get", f"/api/bookings/{created['id']}")
    assert response.status_code == 200
    ledger = response.json()["ledger"]
    assert ledger["charged"] == "420.00" and ledger["refunded"] == "0.00"
    assert ledger["charges"][0]["status"] == "charged"
    assert response.json()["customer_email"] == "ada@example.com"


def test_get_an_unknown_booking_is_404(api: ApiClient, powerless: ApiClient, anonymous: ApiClient) -> None:
    assert api.call("get", f"/api/bookings/{uuid.uuid4()}").status_code == 404
    assert api.call("get", "/api/bookings/not-a-uuid").status_code == 422
    assert powerless.call("get", f"/api/bookings/{uuid.uuid4()}").status_code == 403
    assert anonymous.call("get", f"/api/bookings/{uuid.uuid4()}").status_code == 401


def test_a_request_body_that_is_too_large_is_refused(api: ApiClient) -> None:
    huge = {**API_TRIP, "customer_name": "x" * 300_000}
    response = api.call("post", "/api/bookings", huge)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large."}


def test_the_browser_session_works_and_is_csrf_protected(db: None, trip_workflows: None) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("root", "", "pw")
    browser = Client(HTTP_HOST="127.0.0.1", enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/api/processes").status_code == 200
    import json

    refused = browser.post("/api/bookings", data=json.dumps(API_TRIP), content_type="application/json")
    assert refused.status_code == 403  # no CSRF token


def test_a_revoked_token_stops_working(api: ApiClient) -> None:
    from api.models import ApiToken

    ApiToken.objects.update(revoked=True)
    assert api.call("get", "/api/processes").status_code == 401


def test_create_api_token_command_makes_a_working_token(db: None, trip_workflows: None) -> None:
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    get_user_model().objects.create_superuser("ops", "", "pw")
    out = StringIO()
    call_command("create_api_token", "ops", stdout=out)
    token = out.getvalue().strip()
    assert token.startswith("tok_")
    assert ApiClient(token).call("get", "/api/processes").status_code == 200


def test_answers_for_an_unknown_process_are_404_not_500(api: ApiClient) -> None:
    body = api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-3").json()
    booking = Booking.objects.get(pk=body["id"])
    assert booking.process is not None
    answer(last_command(booking.process, "payment"))
    assert api.call("get", f"/api/processes/{uuid.uuid4()}/events").status_code == 404


def test_a_token_made_in_the_admin_is_shown_once_and_works(db: None, trip_workflows: None) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    root = get_user_model().objects.create_superuser("root", "", "pw")
    admin = Client()
    admin.force_login(root)
    response = admin.post("/admin/api/apitoken/add/", {"user": root.pk, "name": "checkout site"}, follow=True)
    shown = re.search(r"it is not shown again\): (tok_[\w-]+)", response.content.decode())
    assert shown is not None
    assert ApiClient(shown.group(1)).call("get", "/api/processes").status_code == 200
    from api.models import ApiToken

    assert shown.group(1) not in {t.hashed for t in ApiToken.objects.all()}  # only its hash is kept


def test_a_booking_needs_an_idempotency_key(api: ApiClient) -> None:
    response = api.call("post", "/api/bookings", API_TRIP)
    assert response.status_code == 400
    assert "Send an Idempotency-Key header" in response.json()["detail"]
    assert api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="   ").status_code == 400
    assert not Booking.objects.exists()


def test_deleting_users_who_used_the_same_key_works(make_client: Any) -> None:
    from django.contrib.auth import get_user_model

    for name in ("shop-a", "shop-b"):
        client = make_client(name)
        assert (
            client.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-1").status_code == 201
        )
    model = get_user_model()
    model.objects.get(username="shop-a").delete()
    model.objects.get(username="shop-b").delete()  # was an IntegrityError: two orphans, one key
    assert Booking.objects.filter(idempotency_key="order-1", idempotency_owner=None).count() == 2
    again = make_client("shop-c")
    assert again.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="order-1").status_code == 201
