"""The load generator rides out a database that goes away for a moment."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError

from booking import simulation

pytestmark = pytest.mark.usefixtures("trip_workflows")


def test_starting_bookings_is_retried_while_the_database_is_away(
    transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = simulation.bookings_create
    failures = iter([True, True, False, True, False])

    def flaky(trips: Any, **options: Any) -> Any:
        if next(failures):
            raise OperationalError("the database system is starting up")
        return real(trips, **options)

    monkeypatch.setattr(simulation, "bookings_create", flaky)
    monkeypatch.setattr(simulation.time, "sleep", lambda seconds: None)
    report = simulation.simulation_run(bookings=2, rate=1000, timeout=0, seed=1)
    assert report.total == 2
    assert sum(report.counts.values()) == 2  # both started, neither ended: no worker ran
