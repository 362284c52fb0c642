"""A process waiting for an operator says so: "waiting" (it was "failed"). What was stored or
bookmarked under the former name still reads, and the migration renames what is stored."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps

from orchestrator.engine.codec import state_from_json
from orchestrator.models import ProcessInstance
from orchestrator.processes import process_start
from orchestrator.selectors import state_of, status_counts
from orchestrator.status import ProcessStatus
from tests.support.engine import trip_input

pytestmark = pytest.mark.django_db

rename = importlib.import_module("orchestrator.migrations.0013_waiting_for_an_operator")


def test_the_former_name_reads_as_waiting_and_nothing_else_does() -> None:
    assert ProcessStatus.read("failed") is ProcessStatus.WAITING
    assert ProcessStatus.read("waiting") is ProcessStatus.WAITING
    assert (
        ProcessStatus.WAITING.waits_for_operator and ProcessStatus.WAITING.label == "Waiting for an operator"
    )
    with pytest.raises(ValueError):
        ProcessStatus.read("broken")


def _stored_as_before(trip_workflows: None) -> ProcessInstance:
    """A process stored as it was before the rename: its column and its snapshot say "failed"."""
    process, _ = process_start(
        workflow="trip-booking", business_key="TRP-OLD001", input=trip_input("TRP-OLD001")
    )
    state = {**process.state, "status": "failed"}
    ProcessInstance.objects.filter(pk=process.pk).update(status="failed", state=state)  # no choices check
    process.refresh_from_db()
    return process


def test_an_old_snapshot_reads_as_waiting(trip_workflows: None, sent_tasks: Any) -> None:
    process = _stored_as_before(trip_workflows)
    assert state_from_json(process.state).status is ProcessStatus.WAITING


def test_the_migration_renames_the_column_the_snapshot_and_the_counts(
    trip_workflows: None, sent_tasks: Any
) -> None:
    process = _stored_as_before(trip_workflows)
    rename.rename_failed_to_waiting(apps, None)
    process.refresh_from_db()
    assert (process.status, process.state["status"]) == ("waiting", "waiting")
    assert state_of(process).status.waits_for_operator
    counts = status_counts()  # on PostgreSQL, the triggers' counts; elsewhere a GROUP BY
    assert counts["waiting"] == 1 and "failed" not in counts and counts["running"] == 0


@pytest.mark.parametrize("alias", ["failed", "waiting"])
def test_a_filter_by_the_former_name_finds_the_waiting_ones(
    alias: str, trip_workflows: None, sent_tasks: Any, client: Any
) -> None:
    from django.contrib.auth import get_user_model

    process = _stored_as_before(trip_workflows)
    rename.rename_failed_to_waiting(apps, None)
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw"))
    found = client.get("/api/processes", {"status": alias}).json()["items"]
    assert [item["id"] for item in found] == [str(process.pk)]
    assert f'id="row-{process.pk}"' in client.get("/", {"status": alias}).content.decode()
    assert client.get("/api/processes", {"status": "broken"}).status_code == 422
