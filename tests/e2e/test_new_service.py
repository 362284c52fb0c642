"""A service the project does not ship, added the way a team would: one module
(tests/e2e/insurance_service.py), named by SERVICE_MODULES; a workflow that uses it, imported from a
JSON file with `manage.py import_workflows`; real worker processes. Nothing else changes: no
setting, no migration, no other file. Bookings succeed after retries, are found by policy number,
are undone when the insurer declines, and the ledger and the cancel preview name the policy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from booking.checkout import progress
from booking.faults import faults_set
from booking.ledger import ledger_lines, money_problems
from booking.models import Booking, Notification, Reservation
from booking.services.registry import service_names, service_queues, service_unregister, services_load
from orchestrator.definitions import definition_for_run
from orchestrator.models import HistoryEntry, ProcessInstance
from orchestrator.previews import preview
from orchestrator.processes import operator_act
from orchestrator.selectors import state_of
from tests.support.bookings import book
from tests.support.people import an_operator
from tests.support.waiting import wait_until
from tests.support.workers import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.workers]

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.e2e.insurance_service"
WORKFLOW = "insured-trip"
RETRY = {"max_attempts": 6, "initial_delay": 0.3, "multiplier": 2.0, "max_delay": 1.0, "jitter": 0.0}


def step(key: str, command: str, undo: str | None, after: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "command": command,
        "compensation": undo,
        "depends_on": after,
        "retry": RETRY,
        "timeout": 5.0,
        "on_exhausted": "compensate" if undo else "pause",
        **extra,
    }


# The workflow file a user writes: the trip, insured once flight and hotel are booked.
WORKFLOWS = {
    "format": "trip-orchestrator/workflows",
    "workflows": [
        {
            "name": WORKFLOW,
            "version": 1,
            "description": "Payment, flight, hotel, travel insurance, then the confirmation e-mail.",
            "status": "active",
            "steps": [
                step("payment", "payments.charge", "payments.refund", []),
                step("flight", "flights.book", "flights.cancel", ["payment"]),
                step("hotel", "hotels.book", "hotels.cancel", ["flight"]),
                step("insurance", "insurance.buy", "insurance.cancel", ["hotel"]),
                step("notify", "notifications.send", None, ["insurance"], params={"template": "confirmed"}),
                step(
                    "notify_cancelled",
                    "notifications.send",
                    None,
                    [],
                    phase="after_compensation",
                    params={"template": "cancelled"},
                ),
            ],
        }
    ],
}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def insured(production_env: dict[str, str], tmp_path: Path) -> Iterator[Cluster]:
    """The insurance service loaded here and in every worker, its workflow imported, the workers
    (orchestrator, every service queue, beat) running."""
    env = {**production_env, "SERVICE_MODULES": MODULE}
    services_load([MODULE])  # what SERVICE_MODULES does at start-up, for this test's own process
    try:
        assert "insurance" in service_names()
        # No migration: the declared service's records fit the tables there are.
        unmigrated = manage(env, "makemigrations", "--check", "--dry-run")
        assert unmigrated.returncode == 0, unmigrated.stdout + unmigrated.stderr
        file = tmp_path / "workflows.json"
        file.write_text(json.dumps(WORKFLOWS))
        imported = manage(env, "import_workflows", str(file))
        assert imported.returncode == 0, imported.stdout + imported.stderr
        for service in service_names():
            faults_set(service, technical_rate=0.0, business_rate=0.0, latency_ms=0, outage=False)
        cluster = Cluster(env)
        cluster.start("orchestrator")
        cluster.start("beat")
        cluster.start("services", queues=tuple(service_queues()))  # the compact layout: one for all
        yield cluster
        cluster.stop_all()
    finally:
        service_unregister("insurance")


def insured_trip(amount: str = "900.00") -> Booking:
    return book(WORKFLOW, amount=Decimal(amount), customer_email="grace@example.com")


def process_of(booking: Booking) -> ProcessInstance:
    """The booking's process, as it is now."""
    assert booking.process_id is not None
    return ProcessInstance.objects.get(pk=booking.process_id)


def status_of(booking: Booking) -> str:
    return process_of(booking).status


def attempts(booking: Booking, step: str) -> int:
    return state_of(process_of(booking)).steps[step].attempt


def test_an_insured_trip_completes_after_retries_and_is_found_by_its_policy_number(insured: Cluster) -> None:
    faults_set("insurance", technical_rate=1.0)  # the insurer's system is down for a while
    booking = insured_trip()
    wait_until(lambda: attempts(booking, "insurance") >= 2, 30, "the insurance step to be retried")
    faults_set("insurance", technical_rate=0.0)
    wait_until(lambda: status_of(booking) == "completed", 60, "the insured trip to complete")

    process = process_of(booking)
    policy = state_of(process).context["insurance"]["policy_number"]
    assert Reservation.objects.get(service="insurance", code=policy).status == "booked"
    assert money_problems([booking]) == []
    # The ledger names the policy; the customer's page and the e-mail say the trip is insured.
    (line,) = [line for line in ledger_lines(process) if line.effect.service == "insurance"]
    assert policy in line.effect.what and line.compensation == "kept"
    customer = progress(Booking.objects.select_related("process__definition").get(pk=booking.pk))
    assert ("Travel insurance", "done", f"insured, policy {policy}") in customer["lines"]
    confirmation = Notification.objects.get(process_id=process.pk, template="confirmed")
    assert f"Insurance: {policy}" in confirmation.body
    # An operator finds it by the policy number a customer reads out, in any case, with no index
    # or migration of the insurer's own: in the API and on the dashboard, whose hint says so.
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw"))
    for typed in (policy, policy.lower(), f" {policy} "):
        found = client.get("/api/processes", {"q": typed}).json()["items"]
        assert [item["id"] for item in found] == [str(process.pk)], typed
    page = client.get("/", {"q": policy}).content.decode()
    assert f'id="row-{process.pk}"' in page and "policy number" in page


def test_a_declined_policy_undoes_flight_and_hotel(insured: Cluster) -> None:
    booking = insured_trip("12500.00")  # over the insurer's cover limit: declined, a business failure
    wait_until(lambda: status_of(booking) == "compensated", 60, "the trip to be undone")

    process = process_of(booking)
    refusal = HistoryEntry.objects.get(process=process, type="step.failed", step="insurance")
    assert refusal.payload["business"] is True and "cover declined" in refusal.payload["error"]
    reservations = Reservation.objects.filter(process_id=process.pk)
    assert {(r.service, r.status) for r in reservations} == {
        ("flights", "cancelled"),
        ("hotels", "cancelled"),
        ("insurance", "refused"),
    }
    assert money_problems([booking]) == []  # charged, then refunded
    assert Notification.objects.filter(process_id=process.pk, template="cancelled").exists()


def test_the_cancel_preview_names_the_policy_and_the_cancel_undoes_it(insured: Cluster) -> None:
    faults_set("notifications", outage=True)  # the e-mail is taken and never answered
    booking = insured_trip()

    def insured_and_waiting_for_the_email() -> bool:
        process = process_of(booking)
        return "insurance" in process.context and ",notify," in process.active_steps

    wait_until(insured_and_waiting_for_the_email, 60, "the policy to be issued")
    process = process_of(booking)
    policy = process.context["insurance"]["policy_number"]
    cancel = preview(definition_for_run(process.definition), state_of(process), "cancel", at=timezone.now())
    assert cancel.refusal == ""
    assert f"cancel policy {policy}" in "\n".join(cancel.lines)
    assert cancel.queues["insurance"] == 1

    faults_set("notifications", outage=False)
    operator_act(process_id=str(process.pk), action="cancel", user=an_operator(), reason="customer called")
    wait_until(lambda: status_of(booking) == "cancelled", 60, "the trip to be cancelled")
    assert Reservation.objects.get(service="insurance", code=policy).status == "cancelled"
    lines = {line.effect.service: line for line in ledger_lines(process_of(booking))}
    assert lines["insurance"].compensation == "compensated"
    assert lines["insurance"].effect.undo == f"policy {policy} cancelled"
    assert money_problems([booking]) == []
