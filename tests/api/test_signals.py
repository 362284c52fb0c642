"""Signals through the API: once per Idempotency-Key, data checked against the workflow's schema,
clear refusals."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from orchestrator.models import HistoryEntry, ProcessInstance
from tests.support.api import ApiClient
from tests.support.engine import answer, last_command, trip_input
from tests.support.waits import bank_trip_save


@pytest.fixture
def waiting(api: ApiClient) -> str:
    """A bank-trip process, paid, whose bank step waits for the bank's word."""
    bank_trip_save()
    start = {"workflow": "bank-trip", "business_key": "bank-1", "input": trip_input("BANK-1")}
    process_id = api.call("post", "/api/processes", start).json()["id"]
    process = ProcessInstance.objects.get(pk=process_id)
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    return str(process_id)


def _signal(api: ApiClient, process_id: str, name: str, data: dict[str, Any], key: str | None = "k1") -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.call("post", f"/api/processes/{process_id}/signals/{name}", {"data": data}, **headers)


def test_a_signal_is_taken_once_per_key(api: ApiClient, waiting: str) -> None:
    first = _signal(api, waiting, "payment_confirmed", {"authorisation": "A-1"})
    assert first.status_code == 202
    body = first.json()
    assert (body["process_id"], body["signal"], body["repeated"], body["status"]) == (
        waiting,
        "payment_confirmed",
        False,
        "running",
    )
    assert body["note"] == "signal payment_confirmed: bank done"
    again = _signal(api, waiting, "payment_confirmed", {"authorisation": "A-1"})
    assert again.status_code == 200 and again.json() == {**body, "repeated": True}
    row = HistoryEntry.objects.get(process_id=uuid.UUID(waiting), seq=body["seq"])
    assert (row.type, row.actor) == ("signal.received", "system")
    assert last_command(ProcessInstance.objects.get(pk=waiting), "flight").command == "flights.book"


def test_refusals_say_why_and_record_nothing(api: ApiClient, waiting: str, make_client: Any) -> None:
    events = HistoryEntry.objects.filter(process_id=uuid.UUID(waiting)).count()
    missing_key = _signal(api, waiting, "payment_confirmed", {"authorisation": "A"}, key=None)
    assert missing_key.status_code == 400 and "Idempotency-Key" in missing_key.json()["detail"]
    bad = _signal(api, waiting, "payment_confirmed", {"authorisation": 7})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "data.authorisation: 7 is not of type 'string'"
    undeclared = _signal(api, waiting, "refund_please", {})
    assert undeclared.status_code == 422
    assert undeclared.json()["detail"].startswith("the workflow declares no signal 'refund_please'")
    unknown = _signal(api, str(uuid.uuid4()), "payment_confirmed", {"authorisation": "A"})
    assert unknown.status_code == 404
    outsider = make_client("outsider", ["view_processinstance"])
    assert _signal(outsider, waiting, "payment_confirmed", {"authorisation": "A"}).status_code == 403
    assert HistoryEntry.objects.filter(process_id=uuid.UUID(waiting)).count() == events
    _signal(api, waiting, "payment_confirmed", {"authorisation": "A-1"}, key="first")
    late = _signal(api, waiting, "payment_confirmed", {"authorisation": "A-2"}, key="second")
    assert (
        late.status_code == 409 and late.json()["detail"] == "nothing waits for signal payment_confirmed now"
    )
    reused = _signal(api, waiting, "payment_confirmed", {"authorisation": "A-3"}, key="first")
    assert reused.status_code == 409 and "this key was used for another signal" in reused.json()["detail"]
