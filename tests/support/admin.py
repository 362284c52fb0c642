"""Data for the admin's tests: a definition's add form as posted, and one object of every model."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client

from booking.demo import demo_workflows_load
from orchestrator.models import DeliveryCount
from tests.support.engine import last_command, reply_take, service_run

STEP_FIELDS = {
    "position": 0,
    "key": "",
    "command": "",
    "compensation": "",
    "depends_on": "",
    "max_attempts": 3,
    "initial_delay": 1,
    "multiplier": 2,
    "max_delay": 60,
    "jitter": 0.1,
    "timeout": 30,
    "on_exhausted": "pause",
    "phase": "main",
    "params": "{}",
}


def definition_post(name: str, steps: list[dict[str, Any]], version: int = 1) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": "",
        "steps-TOTAL_FORMS": len(steps),
        "steps-INITIAL_FORMS": 0,
        "steps-MIN_NUM_FORMS": 0,
        "steps-MAX_NUM_FORMS": 1000,
    }
    for index, step in enumerate(steps):
        for field, value in {**STEP_FIELDS, "position": index, **step}.items():
            data[f"steps-{index}-{field}"] = value
    return data


def one_of_everything() -> dict[str, Any]:
    """At least one object of every model the admin shows, and the main ones by name."""
    from decimal import Decimal

    from django.contrib.auth.models import Group

    from api.models import ApiToken
    from booking.bookings import booking_create
    from booking.checkout import status_token
    from booking.faults import faults_set
    from booking.traffic import demo_traffic_get
    from dashboard.bulk import bulk_start
    from orchestrator.probes import probe_send

    demo_workflows_load()
    booking = booking_create(
        customer_name="Ada",
        customer_email="ada@example.com",
        itinerary={},
        amount=Decimal("1.00"),
        currency="EUR",
    )
    assert booking.process is not None
    command = last_command(booking.process, "payment")
    service_run("payments.charge", command.model_dump(mode="json"))
    service_run(
        "payments.refund",
        {**command.model_dump(mode="json"), "kind": "compensation", "command": "payments.refund"},
    )
    service_run("flights.book", {**command.model_dump(mode="json"), "step": "flight", "idempotency_key": "f"})
    service_run("hotels.book", {**command.model_dump(mode="json"), "step": "hotel", "idempotency_key": "h"})
    service_run("cars.book", {**command.model_dump(mode="json"), "step": "car", "idempotency_key": "c"})
    service_run(
        "notifications.send", {**command.model_dump(mode="json"), "step": "notify", "idempotency_key": "n"}
    )
    reply_take("garbage")
    probe_send(queue="payments")
    demo_traffic_get()
    Group.objects.create(name="operators")
    get_user_model().objects.create_user("lou", password="pw-right-1234", is_staff=True)
    Client().post("/login/", {"username": "lou", "password": "pw-right-1234"})  # an access log
    Client().post("/login/", {"username": "mallory", "password": "guess"})  # an access attempt
    DeliveryCount.objects.create(message_id="m-redelivered", count=2)
    faults_set("payments", technical_rate=0.0)
    root = get_user_model().objects.filter(
        is_superuser=True
    ).first() or get_user_model().objects.create_superuser("boss", "", "pw")
    ApiToken.issue(user=root, name="smoke")
    bulk = bulk_start(
        action="cancel",
        process_ids=[str(booking.process_id)],
        rate=1,
        reason="r",
        user=root,
        description="d",
    )
    return {"booking": booking, "user": root, "bulk": bulk, "status_token": status_token(booking)}
