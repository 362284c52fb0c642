"""The end-to-end tests' cluster of real worker processes (tests.support.workers.Cluster)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from booking.demo import trip_steps
from booking.faults import faults_set
from booking.services.registry import service_names
from orchestrator.definitions import definition_save
from tests.support.bookings import FAST_TRIP
from tests.support.workers import Cluster


@pytest.fixture
def cluster(production_env: dict[str, str]) -> Iterator[Cluster]:
    definition_save(
        name=FAST_TRIP,
        version=1,
        description="",
        steps=trip_steps(parallel=False, timeout=2.0),
        activate=True,
    )
    for service in service_names():
        faults_set(service, technical_rate=0.0, business_rate=0.0)
    running = Cluster(production_env)
    running.start(settings.ORCHESTRATOR_QUEUE)
    running.start("beat")
    yield running
    running.stop_all()
