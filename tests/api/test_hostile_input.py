"""Values PostgreSQL cannot store (NUL, lone surrogates), huge and deeply nested bodies: every
endpoint answers 4xx and stores nothing, in JSON bodies, headers, query strings and forms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from booking.models import Booking
from orchestrator.models import HistoryEntry, ProcessInstance
from tests.support.api import ApiClient
from tests.support.bookings import API_TRIP
from tests.support.engine import trip_input

NUL = "\x00"
SURROGATE = "\ud800"


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every string in a JSON document."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from leaves(inner, (*path, index))
    elif isinstance(value, str):
        yield path


def with_value(document: Any, path: tuple[Any, ...], value: str) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = target[path[-1]] + value
    return copy


def raw_post(api: ApiClient, method: str, path: str, text: str, **headers: str) -> Any:
    send = getattr(Client, method)
    return send(api, path, data=text, content_type="application/json", **api._auth(headers))


def bodies() -> list[tuple[str, str, dict[str, Any]]]:
    start = {"workflow": "trip-booking", "business_key": "k-1", "input": trip_input("EXT-9")}
    skip = {"step": "payment", "reason": "r", "output": {"a": "b"}}
    return [
        ("post", "/api/bookings", API_TRIP),
        ("post", "/api/processes", start),
        ("post", "/api/processes/{id}/actions/skip", skip),
        ("post", "/api/processes/{id}/actions/cancel", {"reason": "customer called"}),
        ("post", "/api/processes/{id}/signals/payment_confirmed", {"data": {"authorisation": "A-1"}}),
    ]


@pytest.fixture
def process_id(api: ApiClient) -> str:
    created = api.call("post", "/api/bookings", API_TRIP, HTTP_IDEMPOTENCY_KEY="existing")
    return str(created.json()["process_id"])


@pytest.mark.parametrize("value", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize(("method", "path", "body"), bodies(), ids=lambda x: str(x)[:30])
def test_unstorable_text_in_any_field_of_any_body_is_refused(
    api: ApiClient, process_id: str, method: str, path: str, body: dict[str, Any], value: str
) -> None:
    url = path.format(id=process_id)
    events = HistoryEntry.objects.count()
    for leaf in leaves(body):
        sent = raw_post(api, method, url, json.dumps(with_value(body, leaf, value)), HTTP_IDEMPOTENCY_KEY="h")
        assert sent.status_code == 422, (leaf, sent.content)
        assert sent.json()["errors"][0]["loc"] == ["body", *leaf]
    assert Booking.objects.count() == 1 and ProcessInstance.objects.count() == 1
    assert HistoryEntry.objects.count() == events


def test_unstorable_text_in_a_key_is_refused(api: ApiClient) -> None:
    body = {**API_TRIP, "itinerary": {**API_TRIP["itinerary"], "hotel\x00": "x"}}
    assert api.call("post", "/api/bookings", body, HTTP_IDEMPOTENCY_KEY="k").status_code == 422


@pytest.mark.parametrize("header", ["HTTP_IDEMPOTENCY_KEY", "HTTP_USER_AGENT"])
def test_a_nul_in_a_header_is_refused(api: ApiClient, header: str) -> None:
    headers = {"HTTP_IDEMPOTENCY_KEY": "fine", header: "order\x001"}
    response = api.call("post", "/api/bookings", API_TRIP, **headers)
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert not Booking.objects.exists()


def test_a_nul_in_the_query_string_is_refused(api: ApiClient) -> None:
    response = api.call("get", "/api/processes?q=ada%00")
    assert response.status_code == 400


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_refused(api: ApiClient, depth: int) -> None:
    deep = '{"workflow": "trip-booking", "business_key": "d", "input": ' + "[" * depth + "]" * depth + "}"
    response = raw_post(api, "post", "/api/processes", deep)
    assert response.status_code == 400 and "nested" in response.json()["detail"]


def test_ten_megabytes_are_refused(api: ApiClient) -> None:
    huge = {**API_TRIP, "customer_name": "x" * 10_000_000}
    assert api.call("post", "/api/bookings", huge, HTTP_IDEMPOTENCY_KEY="big").status_code == 413


def test_the_dashboard_refuses_a_nul_in_an_action_reason(db: None, trip_workflows: None) -> None:
    from tests.support.bookings import book
    from tests.support.people import OPERATOR_PERMISSIONS, user_with

    process = book("trip-booking").process
    assert process is not None
    operator = user_with("olga", permissions=OPERATOR_PERMISSIONS)
    response = operator.post(f"/processes/{process.pk}/actions/pause/", {"reason": "because\x00"})
    assert response.status_code == 422 and b"NUL" in response.content
    assert HistoryEntry.objects.filter(process=process).count() == 1
