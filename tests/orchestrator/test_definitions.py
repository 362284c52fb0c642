"""Definitions: validation, and a used version never changing."""

from __future__ import annotations

import pytest
from django.test import Client

from booking.demo import trip_steps
from orchestrator.definitions import InvalidDefinition, definition_save
from orchestrator.engine.types import RetryPolicy, StepSpec
from orchestrator.models import StepDefinition, WorkflowDefinition
from orchestrator.processes import process_start
from tests.support.engine import trip_input

pytestmark = pytest.mark.django_db


def test_a_version_with_processes_cannot_be_saved_again() -> None:
    definition_save(name="trip", version=1, description="", steps=trip_steps(parallel=False), activate=True)
    process_start(workflow="trip", business_key="k", input=trip_input())
    with pytest.raises(InvalidDefinition, match="has processes and cannot change"):
        definition_save(name="trip", version=1, description="edited", steps=trip_steps(parallel=True))
    row = WorkflowDefinition.objects.get(name="trip")
    assert row.frozen_at is not None and row.description == ""


def test_saving_a_draft_never_clears_the_frozen_mark() -> None:
    row = definition_save(name="trip", version=1, description="", steps=trip_steps(parallel=False))
    WorkflowDefinition.objects.filter(pk=row.pk).update(frozen_at="2026-01-01T00:00:00Z")
    # A save that read the row before it froze must not write the stale "not frozen" back.
    row.description = "stale"
    row.save(update_fields=["description", "updated_at"])
    assert WorkflowDefinition.objects.get(pk=row.pk).frozen_at is not None


def test_timers_further_out_than_thirty_days_are_refused() -> None:
    steps = [
        StepSpec("slow", "notifications.send", timeout=31 * 24 * 3600, retry=RetryPolicy(max_delay=40e6))
    ]
    with pytest.raises(InvalidDefinition) as refused:
        definition_save(name="slow", version=1, description="", steps=steps)
    assert {(p.field, p.message) for p in refused.value.problems} == {
        ("timeout", "must be at most 30 days"),
        ("max_delay", "must be at most 30 days"),
    }


def test_the_admin_shows_a_used_version_read_only() -> None:
    from django.contrib.auth import get_user_model

    definition_save(name="trip", version=1, description="", steps=trip_steps(parallel=False), activate=True)
    process_start(workflow="trip", business_key="k", input=trip_input())
    row = WorkflowDefinition.objects.get(name="trip")
    admin = get_user_model().objects.create_superuser("root", "", "pw")
    client = Client()
    client.force_login(admin)
    url = f"/admin/orchestrator/workflowdefinition/{row.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and b'name="description"' not in page.content  # read-only view
    posted = client.post(url, {"name": "trip", "version": 1, "description": "hacked", "status": "active"})
    assert posted.status_code == 403
    assert StepDefinition.objects.filter(definition=row).count() == 5


def test_a_step_may_not_leave_out_the_compensation_its_command_declares() -> None:
    charge = StepSpec("payment", "payments.charge")
    with pytest.raises(InvalidDefinition) as refused:
        definition_save(name="free-money", version=1, description="", steps=[charge])
    assert [(p.field, p.message) for p in refused.value.problems] == [
        (
            "compensation",
            "payments.charge is undone by payments.refund: choose it, or say on the step that what it "
            "did is kept when the process compensates",
        )
    ]
    kept = StepSpec("payment", "payments.charge", keep_on_compensation=True)
    saved = definition_save(name="fee", version=1, description="", steps=[kept])
    assert saved.steps.get().keep_on_compensation is True
    both = StepSpec("payment", "payments.charge", "payments.refund", keep_on_compensation=True)
    with pytest.raises(InvalidDefinition, match="cannot also be kept"):
        definition_save(name="both", version=1, description="", steps=[both])
