"""measure_console: every page it times answers, and its last line is the figures as JSON."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from tests.support.services import service_missing

pytestmark = pytest.mark.usefixtures("trip_workflows")

MEASURED = {
    "list",
    "list_by_status",
    "list_by_workflow",
    "search_reference",
    "search_email",
    "search_key",
    "status_counts",
    "process_page",
    "api_list",
    "metrics",
}


@pytest.fixture
def seeded(db: None) -> None:
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL", "measure_console measures PostgreSQL (set DATABASE_URL=postgres://...)")
    call_command("seed_history", processes=120, seed=3, no_vacuum=True, stdout=StringIO())


def test_it_times_every_page_and_ends_with_the_figures(seeded: None) -> None:
    out = StringIO()
    call_command("measure_console", requests=3, budget=10_000, stdout=out)
    lines = out.getvalue().strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["processes"] == 120 and figures["requests"] == 3 and figures["pass"] is True
    assert set(figures) >= MEASURED
    for name in MEASURED:
        assert 0 < figures[name]["p50_ms"] <= figures[name]["p95_ms"], name
    assert any(line.startswith("Verdict: every p95 under") for line in lines)
    # The staff user it measured as is gone again.
    assert not get_user_model().objects.filter(username="console-measure").exists()


def test_with_nothing_seeded_it_says_what_to_do(db: None) -> None:
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL", "measure_console measures PostgreSQL (set DATABASE_URL=postgres://...)")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="seed_history"):
        call_command("measure_console", requests=1, stdout=StringIO())
