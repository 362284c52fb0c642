"""A new workflow built in the admin runs with no code change beyond declaring its commands:
the trip with a car rental, created, activated, and run by the load generator on real workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from booking.demo import demo_workflows_load
from booking.models import Booking, Reservation
from booking.simulation import simulation_run
from config.celery import app
from config.embedded import EmbeddedRuntime
from orchestrator.commands import queues_all
from orchestrator.models import WorkflowDefinition
from tests.support.admin import definition_post


@pytest.fixture
def workers(transactional_db: None) -> Iterator[None]:
    runtime = EmbeddedRuntime(app, threads=2, queues=queues_all())
    runtime.start()
    yield
    runtime.stop()


@pytest.mark.slow
def test_a_trip_with_a_car_built_in_the_admin_runs_end_to_end(workers: None) -> None:
    demo_workflows_load()
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw"))
    retry = {
        "max_attempts": 5,
        "initial_delay": 0.2,
        "max_delay": 1,
        "timeout": 10,
        "on_exhausted": "compensate",
    }
    steps: list[dict[str, Any]] = [
        {"key": "payment", "command": "payments.charge", "compensation": "payments.refund", **retry},
        {
            "key": "flight",
            "command": "flights.book",
            "compensation": "flights.cancel",
            "depends_on": "payment",
            **retry,
        },
        {
            "key": "hotel",
            "command": "hotels.book",
            "compensation": "hotels.cancel",
            "depends_on": "payment",
            **retry,
        },
        {
            "key": "car",
            "command": "cars.book",
            "compensation": "cars.cancel",
            "depends_on": "flight, hotel",
            **retry,
        },
        {
            "key": "notify",
            "command": "notifications.send",
            "depends_on": "car",
            "params": '{"template": "confirmed"}',
        },
        {
            "key": "sorry",
            "command": "notifications.send",
            "phase": "after_compensation",
            "params": '{"template": "cancelled"}',
        },
    ]
    response = client.post(
        "/admin/orchestrator/workflowdefinition/add/", definition_post("trip-with-car", steps)
    )
    assert response.status_code == 302
    definition = WorkflowDefinition.objects.get(name="trip-with-car")
    client.post(
        "/admin/orchestrator/workflowdefinition/", {"action": "activate", "_selected_action": [definition.pk]}
    )

    report = simulation_run(bookings=8, rate=20, workflow="trip-with-car", timeout=60, seed=3)

    assert report.ok, (report.counts, report.problems)
    completed = report.counts["completed"]
    assert completed > 0
    cars = Reservation.objects.filter(
        service="cars", status="booked", booking_reference__in=Booking.objects.values("reference")
    )
    assert cars.count() == completed
