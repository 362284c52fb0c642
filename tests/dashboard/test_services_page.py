"""The services page: fault settings and demo traffic, behind their permission."""

from __future__ import annotations

import pytest
from django.test import Client

from booking.models import Booking, ServiceFaults
from booking.traffic import demo_traffic_get, demo_traffic_step


def test_services_page_shows_every_service(viewer: Client) -> None:
    page = viewer.get("/services/").content.decode()
    for service in ("payments", "flights", "hotels", "notifications"):
        assert f'id="faults-{service}"' in page
    assert 'name="payments-technical_rate"' not in page  # read-only without the permission


def test_changing_faults_needs_the_permission(viewer: Client) -> None:
    response = viewer.post("/services/payments/faults/", {"payments-technical_rate": "1"})
    assert response.status_code == 403


def test_an_operator_sets_faults(operator: Client) -> None:
    response = operator.post(
        "/services/payments/faults/",
        {"payments-technical_rate": "1", "payments-business_rate": "0", "payments-latency_ms": "250"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and b"saved" in response.content
    faults = ServiceFaults.objects.get(service="payments")
    assert (faults.technical_rate, faults.latency_ms, faults.outage) == (1.0, 250, False)


def test_bad_fault_values_are_refused_and_nothing_changes(operator: Client) -> None:
    fields = {"hotels-technical_rate": "0.2", "hotels-business_rate": "0", "hotels-latency_ms": "0"}
    assert operator.post("/services/hotels/faults/", fields).status_code == 302
    response = operator.post(
        "/services/hotels/faults/", {**fields, "hotels-technical_rate": "7"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert b"less than or equal to 1" in response.content
    assert ServiceFaults.objects.get(service="hotels").technical_rate == 0.2
    assert operator.post("/services/trains/faults/", {}).status_code == 404


@pytest.mark.usefixtures("trip_workflows")
def test_demo_traffic_starts_bookings_while_on(operator: Client) -> None:
    assert demo_traffic_step() is None  # off by default
    operator.post("/services/demo-traffic/", {"enabled": "on", "every_seconds": "2"})
    traffic = demo_traffic_get()
    assert traffic.enabled and traffic.every_seconds == 2
    first = demo_traffic_step()
    assert first is not None and first.process is not None
    assert demo_traffic_step() is None  # not due again yet
    operator.post("/services/demo-traffic/", {"every_seconds": "2"})  # switched off
    assert not demo_traffic_get().enabled
    assert Booking.objects.count() == 1
