"""A workflow's business deadline: saved, checked, exported and imported, copied to a new version."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from booking.demo import DEADLINE, demo_workflows_load, trip_steps
from orchestrator.definitions import InvalidDefinition, definition_new_version, definition_save
from orchestrator.models import WorkflowDefinition
from orchestrator.workflow_io import ImportRefused, workflows_export, workflows_import

pytestmark = pytest.mark.django_db


def test_the_demo_trip_has_a_deadline_that_survives_export_import_and_new_versions() -> None:
    demo_workflows_load()
    trip = WorkflowDefinition.objects.get(name="trip-booking")
    assert trip.deadline == DEADLINE == timedelta(minutes=30) and "hotel hold" in trip.deadline_reason
    exported = workflows_export([trip])
    assert json.loads(exported)["workflows"][0]["deadline"] == 1800
    WorkflowDefinition.objects.all().delete()
    workflows_import(exported)
    imported = WorkflowDefinition.objects.get(name="trip-booking")
    assert (imported.deadline, imported.deadline_reason) == (trip.deadline, trip.deadline_reason)
    copy = definition_new_version(imported)
    assert (copy.deadline, copy.deadline_reason) == (trip.deadline, trip.deadline_reason)


def test_a_deadline_is_optional_and_must_be_positive() -> None:
    row = definition_save(name="no-deadline", version=1, description="", steps=trip_steps(parallel=False))
    assert row.deadline is None
    with pytest.raises(InvalidDefinition, match="deadline: must be more than 0 s"):
        definition_save(
            name="bad", version=1, description="", steps=trip_steps(parallel=False), deadline=timedelta(0)
        )
    document = json.loads(workflows_export([row]))
    document["workflows"][0]["deadline"] = -5
    with pytest.raises(ImportRefused, match="no-deadline v1: deadline: must be more than 0 s"):
        workflows_import(json.dumps(document))


def test_the_admin_edits_the_deadline(admin_client: object) -> None:
    row = definition_save(name="edited", version=1, description="", steps=trip_steps(parallel=False))
    page = admin_client.get(f"/admin/orchestrator/workflowdefinition/{row.pk}/change/")  # type: ignore[attr-defined]
    assert 'name="deadline"' in page.content.decode() and 'name="deadline_reason"' in page.content.decode()
