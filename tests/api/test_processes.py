"""The processes endpoints, operator actions and fault settings."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from booking.models import Booking, ServiceFaults
from orchestrator.models import HistoryEntry, ProcessInstance
from tests.support.api import ApiClient
from tests.support.bookings import API_TRIP
from tests.support.engine import answer, deliver_all, last_command, trip_input

START = {"workflow": "trip-booking", "business_key": "ext-1", "input": trip_input("EXT-1", amount="10.00")}


def test_start_a_process_and_again_for_the_same_key(api: ApiClient) -> None:
    first = api.call("post", "/api/processes", START)
    again = api.call("post", "/api/processes", START)
    assert (first.status_code, again.status_code) == (201, 200)
    body = first.json()
    assert body["id"] == again.json()["id"]
    assert (body["workflow"], body["version"], body["status"], body["business_key"]) == (
        "trip-booking",
        1,
        "running",
        "ext-1",
    )
    assert body["steps"][0] == {
        "key": "payment",
        "status": "running",
        "attempts": 1,
        "in_doubt": False,
        "waiting_for_operator": False,
        "next_retry_at": None,
        "times_out_at": body["steps"][0]["times_out_at"],
        "last_error": "",
    }
    assert HistoryEntry.objects.get(process_id=body["id"]).actor == "system"


def test_start_errors(api: ApiClient, powerless: ApiClient, anonymous: ApiClient) -> None:
    assert api.call("post", "/api/processes", {**START, "workflow": "nope"}).status_code == 409
    missing = api.call("post", "/api/processes", {"workflow": "trip-booking"})
    assert missing.status_code == 422 and any("business_key" in e["loc"] for e in missing.json()["errors"])
    assert powerless.call("post", "/api/processes", START).status_code == 403
    assert anonymous.call("post", "/api/processes", START).status_code == 401


def test_list_filter_and_page_processes(api: ApiClient) -> None:
    for n in range(53):
        api.call("post", "/api/processes", {**START, "business_key": f"k{n}"})
    first = api.call("get", "/api/processes").json()
    assert len(first["items"]) == 50 and first["next_cursor"]
    second = api.call("get", f"/api/processes?cursor={first['next_cursor']}").json()
    assert len(second["items"]) == 3 and second["next_cursor"] is None
    assert {p["business_key"] for p in first["items"] + second["items"]} == {f"k{n}" for n in range(53)}
    found = api.call("get", "/api/processes?q=k7").json()["items"]
    assert [p["business_key"] for p in found] == ["k7"]
    assert api.call("get", "/api/processes?status=completed").json()["items"] == []
    bad = api.call("get", "/api/processes?status=exploded")
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "status"]
    assert api.call("get", "/api/processes?created_after=yesterday").status_code == 422


def test_failing_now_and_had_retries_filter_as_on_the_dashboard(api: ApiClient) -> None:
    failing_id = api.call("post", "/api/processes", START).json()["id"]
    healthy_id = api.call("post", "/api/processes", {**START, "business_key": "ext-2"}).json()["id"]
    answer(last_command(ProcessInstance.objects.get(pk=failing_id), "payment"), succeeded=False)
    failing = api.call("get", "/api/processes?failing=true").json()["items"]
    assert [p["id"] for p in failing] == [failing_id]
    assert api.call("get", "/api/processes?had_retries=true").json()["items"] == []  # one attempt so far
    assert {p["id"] for p in api.call("get", "/api/processes").json()["items"]} == {failing_id, healthy_id}


def test_get_a_process_and_its_history(api: ApiClient) -> None:
    process_id = api.call("post", "/api/processes", START).json()["id"]
    process = ProcessInstance.objects.get(pk=process_id)
    answer(last_command(process, "payment"), payment_id="p1", amount="10.00", currency="EUR")
    detail = api.call("get", f"/api/processes/{process_id}").json()
    assert detail["context"]["payment"]["payment_id"] == "p1"
    events = api.call("get", f"/api/processes/{process_id}/events?limit=1").json()
    assert [e["type"] for e in events["items"]] == ["process.started"] and events["next_cursor"] == 1
    rest = api.call("get", f"/api/processes/{process_id}/events?after=1").json()
    assert [e["type"] for e in rest["items"]] == ["step.succeeded"] and rest["next_cursor"] is None
    assert api.call("get", f"/api/processes/{uuid.uuid4()}").status_code == 404


def test_an_action_is_202_with_the_resulting_status(api: ApiClient) -> None:
    process_id = api.call("post", "/api/processes", START).json()["id"]
    response = api.call("post", f"/api/processes/{process_id}/actions/pause", {"reason": "maintenance"})
    assert response.status_code == 202
    assert response.json() == {"process_id": process_id, "status": "paused"}
    event = HistoryEntry.objects.filter(process_id=process_id).order_by("-seq").first()
    assert event is not None and (event.actor, event.reason) == ("system", "maintenance")


def test_an_action_that_does_not_apply_is_409(api: ApiClient) -> None:
    process_id = api.call("post", "/api/processes", START).json()["id"]
    response = api.call("post", f"/api/processes/{process_id}/actions/resume", {"reason": "why not"})
    assert response.status_code == 409
    assert response.json() == {"detail": "the process is not paused"}


def test_action_errors(api: ApiClient, make_client: Any) -> None:
    process_id = api.call("post", "/api/processes", START).json()["id"]
    url = f"/api/processes/{process_id}/actions"
    assert api.call("post", f"{url}/explode", {"reason": "x"}).status_code == 422
    assert api.call("post", f"{url}/pause", {}).status_code == 422  # the reason is required
    assert (
        api.call("post", f"/api/processes/{uuid.uuid4()}/actions/pause", {"reason": "x"}).status_code == 404
    )
    pauser = make_client("pauser", ["pause_process"])
    assert pauser.call("post", f"{url}/cancel", {"reason": "x"}).status_code == 403
    assert pauser.call("post", f"{url}/pause", {"reason": "x"}).status_code == 202


def test_skip_output_is_checked(api: ApiClient) -> None:
    from dataclasses import replace

    from booking.demo import trip_steps
    from orchestrator.definitions import definition_save
    from orchestrator.engine.types import RetryPolicy
    from orchestrator.status import OnExhausted

    steps = [
        replace(s, retry=RetryPolicy(max_attempts=1), on_exhausted=OnExhausted.PAUSE)
        for s in trip_steps(parallel=False)
    ]
    definition_save(name="fragile", version=1, description="", steps=steps, activate=True)
    process_id = api.call("post", "/api/processes", {**START, "workflow": "fragile"}).json()["id"]
    answer(last_command(ProcessInstance.objects.get(pk=process_id), "payment"), succeeded=False)
    url = f"/api/processes/{process_id}/actions/skip"
    bad = api.call("post", url, {"step": "payment", "reason": "by phone", "output": {"amount": "10"}})
    assert bad.status_code == 422 and "payment_id" in bad.json()["detail"]
    good = api.call(
        "post",
        url,
        {
            "step": "payment",
            "reason": "by phone",
            "output": {"payment_id": "pay_x", "amount": "10.00", "currency": "EUR"},
        },
    )
    assert good.status_code == 202


def test_fault_settings(api: ApiClient, powerless: ApiClient) -> None:
    assert api.call("get", "/api/services/hotels/faults").json()["technical_rate"] == 0
    put = api.call(
        "put",
        "/api/services/hotels/faults",
        {"technical_rate": 0.3, "business_rate": 0.1, "latency_ms": 100, "outage": False, "seed": 7},
    )
    assert put.status_code == 200
    assert put.json() == {
        "service": "hotels",
        "technical_rate": 0.3,
        "business_rate": 0.1,
        "latency_ms": 100,
        "outage": False,
        "seed": 7,
    }
    faults = ServiceFaults.objects.get(service="hotels")
    assert (faults.technical_rate, faults.seed) == (0.3, 7)
    assert (
        api.call(
            "put", "/api/services/hotels/faults", {"technical_rate": 2, "business_rate": 0, "latency_ms": 0}
        ).status_code
        == 422
    )
    unknown = api.call("get", "/api/services/trains/faults")
    assert unknown.status_code == 404 and "unknown service 'trains'" in unknown.json()["detail"]
    assert (
        powerless.call(
            "put", "/api/services/hotels/faults", {"technical_rate": 0, "business_rate": 0, "latency_ms": 0}
        ).status_code
        == 403
    )


def test_the_docs_need_a_login_or_a_token(anonymous: ApiClient, powerless: ApiClient) -> None:
    refused = anonymous.get("/api/openapi.json")
    assert refused.status_code == 401 and "Bearer" in refused.json()["detail"]
    page = anonymous.get("/api/docs")
    assert page.status_code == 302 and page["Location"].startswith("/login/")
    assert powerless.call("get", "/api/openapi.json").status_code == 200  # any API user may read them


def test_openapi_lists_every_endpoint_and_the_docs_page_is_local(api: ApiClient) -> None:
    schema = api.call("get", "/api/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/bookings",
        "/api/bookings/{booking_id}",
        "/api/processes",
        "/api/processes/{process_id}",
        "/api/processes/{process_id}/events",
        "/api/processes/{process_id}/actions/{action}",
        "/api/processes/{process_id}/signals/{name}",
        "/api/services/{name}/faults",
    }
    assert schema["components"]["securitySchemes"]
    docs = api.call("get", "/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()


@pytest.mark.postgres
def test_the_same_idempotency_key_sent_ten_times_at_once_makes_one_booking(
    postgres_url: str, make_client: Any
) -> None:
    from tests.support.threads import run_together

    client = make_client()

    def post() -> tuple[int, str]:
        response = ApiClient(client.token).call(
            "post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="burst-1"
        )
        return response.status_code, response.json()["id"]

    results = run_together([post for _ in range(10)])
    assert all(isinstance(r, tuple) for r in results), results
    assert len({r[1] for r in results}) == 1  # type: ignore[index]
    assert sorted(r[0] for r in results) == [200] * 9 + [201]  # type: ignore[index]
    assert Booking.objects.count() == 1 and ProcessInstance.objects.count() == 1


def test_the_api_documents_every_declared_service(api: ApiClient) -> None:
    from booking.services.registry import service_names

    schema = api.call("get", "/api/openapi.json").json()
    for method in ("get", "put"):
        (name,) = [
            p
            for p in schema["paths"]["/api/services/{name}/faults"][method]["parameters"]
            if p["in"] == "path"
        ]
        assert name["schema"]["enum"] == service_names() and "hotels" in service_names()


ENDPOINTS = [
    ("post", "/api/bookings", API_TRIP),
    ("get", "/api/bookings/{id}", None),
    ("post", "/api/processes", START),
    ("get", "/api/processes", None),
    ("get", "/api/processes/{id}", None),
    ("get", "/api/processes/{id}/events", None),
    ("post", "/api/processes/{id}/actions/pause", {"reason": "x"}),
    ("get", "/api/services/payments/faults", None),
    ("put", "/api/services/payments/faults", {"technical_rate": 0, "business_rate": 0, "latency_ms": 0}),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_needs_authentication_and_its_permission(
    anonymous: ApiClient, powerless: ApiClient, method: str, path: str, body: Any
) -> None:
    url = path.format(id=uuid.uuid4())
    unauthenticated = anonymous.call(method, url, body)
    assert unauthenticated.status_code == 401 and "detail" in unauthenticated.json()
    forbidden = powerless.call(method, url, body)
    assert forbidden.status_code == 403, forbidden.content
    assert forbidden.json()["detail"].startswith("You need the permission")


def test_starting_a_known_business_key_shows_it_only_to_readers(api: ApiClient, make_client: Any) -> None:
    api.call("post", "/api/processes", START)
    starter = make_client("starter", ["add_processinstance"])
    assert starter.call("post", "/api/processes", {**START, "business_key": "new"}).status_code == 201
    assert starter.call("post", "/api/processes", START).status_code == 403


def test_a_damaged_cursor_is_not_a_crash(api: ApiClient) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(b"2030-01-01T00:00:00+00:00|nope").decode()
    assert api.call("get", f"/api/processes?cursor={cursor}").status_code == 200


def test_a_forged_process_start_cannot_touch_another_bookings_money(api: ApiClient, sent_tasks: Any) -> None:
    from booking.ledger import money_problems

    created = api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="real-1").json()
    real = Booking.objects.get(pk=created["id"])
    assert real.process is not None
    assert deliver_all(real.process, sent_tasks).status == "completed"
    # Someone allowed to start processes copies the real booking's reference into their own.
    forged = trip_input(real.reference, amount="99999.99", customer_email="mallory@example.com")
    response = api.call(
        "post", "/api/processes", {"workflow": "trip-booking-parallel", "business_key": "x", "input": forged}
    )
    assert response.status_code == 201
    deliver_all(ProcessInstance.objects.get(pk=response.json()["id"]), sent_tasks)
    ledger = api.call("get", f"/api/bookings/{real.pk}").json()["ledger"]
    assert [c["amount"] for c in ledger["charges"]] == ["420.00"]
    assert (ledger["charged"], ledger["refunded"]) == ("420.00", "0.00")
    assert money_problems([real]) == []


def test_a_process_input_its_commands_cannot_read_is_refused(api: ApiClient) -> None:
    start = {"workflow": "trip-booking", "business_key": "ext-2", "input": {"amount": "10.00"}}
    response = api.call("post", "/api/processes", start)
    assert response.status_code == 422
    assert "input for payments.charge: reference: Field required" in response.json()["detail"]
    assert not ProcessInstance.objects.filter(business_key="ext-2").exists()


def test_terminate_through_the_api_needs_its_own_permission(api: ApiClient, make_client: Any) -> None:
    process_id = api.call("post", "/api/processes", START).json()["id"]
    url = f"/api/processes/{process_id}/actions/terminate"
    canceller = make_client("canceller", ["cancel_process"])
    assert canceller.call("post", url, {"reason": "x"}).status_code == 403
    response = api.call("post", url, {"reason": "a test booking"})
    assert response.status_code == 202
    assert response.json() == {"process_id": process_id, "status": "terminated"}
    again = api.call("post", url, {"reason": "twice"})
    assert again.status_code == 409
    assert "terminated" in again.json()["detail"]
    listed = api.call("get", "/api/processes?status=terminated").json()
    assert [p["id"] for p in listed["items"]] == [process_id]
