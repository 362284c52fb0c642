"""The README's "Add a service" works as written: its module, loaded as is, declares a service
whose queue, route, task, search hint, fault settings and records all follow."""

from __future__ import annotations

import re
import sys
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from booking.faults import faults_of
from booking.models import Reservation
from booking.services.registry import service_get, service_unregister, services_load
from config.celery import app
from orchestrator.commands import command_get, queues_all
from orchestrator.messages import reply_parse
from orchestrator.selectors import search_hints
from tests.support.engine import SentTasks, service_command, service_run

README = Path(__file__).resolve().parents[2] / "README.md"
MODULE = "readme_parcels"


def readme_module() -> str:
    section = README.read_text().split("## Add a service", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return "\n".join(line.removeprefix("   ") for line in block.splitlines())


@pytest.fixture
def parcels() -> Iterator[None]:
    module = types.ModuleType(MODULE)
    exec(compile(readme_module(), "README.md", "exec"), module.__dict__)
    sys.modules[MODULE] = module
    try:
        services_load([MODULE])
        yield
    finally:
        service_unregister("parcels")
        del sys.modules[MODULE]


@pytest.mark.django_db
def test_the_readme_service_is_declared_routed_searchable_and_works(
    parcels: None, sent_tasks: SentTasks, trip_workflows: None
) -> None:
    from orchestrator.models import ProcessInstance, WorkflowDefinition

    service = service_get("parcels")
    assert "parcels" in queues_all() and command_get("parcels.send").compensation == "parcels.recall"
    assert app.amqp.router.route({}, "parcels.send")["queue"].name == "parcels"
    assert "tracking number" in search_hints()
    assert faults_of("parcels").technical_rate == 0.0  # its fault settings, made when first asked for

    process = ProcessInstance.objects.create(
        definition=WorkflowDefinition.objects.get(name="trip-booking"),
        workflow_name="trip-booking",
        business_key=f"readme-{uuid.uuid4()}",
        state={"steps": {}},
    )
    trip = {
        "reference": "TRP-README",
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "amount": "10.00",
        "currency": "EUR",
    }
    command = service_command(process.pk, "parcels.send", "documents", input=trip)
    service_run("parcels.send", command)
    parcel = Reservation.objects.get(service="parcels")
    assert parcel.code.startswith("TRK") and parcel.details == "documents for Ada Lovelace"
    reply = reply_parse(sent_tasks.calls[-1]["args"][0])
    assert reply.payload["output"] == {"tracking_number": parcel.code, "parcel": parcel.details}
    assert service.done_text(reply.payload["output"]) == f"sent, tracking number {parcel.code}"
