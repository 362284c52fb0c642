"""A scrape reads the process table only through indexes: it costs the same at a million processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestrator.models import ProcessInstance
from orchestrator.processes import process_start
from tests.support.engine import trip_input

pytestmark = pytest.mark.usefixtures("trip_workflows")

PROCESSES = 5_000
TABLE = ProcessInstance._meta.db_table


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_scrape_reads_processes_only_through_indexes(client: Client, settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the plans of PostgreSQL")
    settings.METRICS_TOKEN = ""
    settings.RUN_MODE = "embedded"
    first, _ = process_start(workflow="trip-booking", business_key="first", input=trip_input())
    now = timezone.now()
    ProcessInstance.objects.filter(pk=first.pk).update(wake_at=now + timedelta(hours=1))
    # Many processes waiting on timers of the next minutes, three of them due.
    ProcessInstance.objects.bulk_create(
        ProcessInstance(
            id=uuid.uuid4(),
            definition_id=first.definition_id,
            workflow_name=first.workflow_name,
            business_key=f"k-{n}",
            state=first.state,
            input=first.input,
            wake_at=now + timedelta(seconds=(-1 if n < 3 else 60 + n % 600)),
        )
        for n in range(PROCESSES)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")
    with CaptureQueriesContext(connection) as captured:
        text = client.get("/metrics").content.decode()
    assert "orchestrator_timers_due 3.0" in text
    reads = [q["sql"] for q in captured.captured_queries if TABLE in q["sql"]]
    assert reads, "the scrape read the process table"
    with connection.cursor() as cursor:
        for sql in reads:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            for node in _plan_nodes(cursor.fetchone()[0][0]["Plan"]):
                if node.get("Relation Name") == TABLE:
                    assert node["Node Type"] != "Seq Scan", (sql, node)
