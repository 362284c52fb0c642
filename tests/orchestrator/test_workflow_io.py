"""Definitions as JSON files: export, import, round trips, and files that change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from booking.demo import demo_workflows_load
from orchestrator.models import WorkflowDefinition
from orchestrator.processes import process_start
from orchestrator.workflow_io import ImportRefused, workflows_export, workflows_import
from tests.support.engine import trip_input

pytestmark = pytest.mark.django_db


def test_export_then_import_round_trips_to_identical_definitions() -> None:
    demo_workflows_load()
    exported = workflows_export(list(WorkflowDefinition.objects.all()))
    WorkflowDefinition.objects.all().delete()  # unused drafts and actives: nothing refers to them
    assert workflows_import(exported) == [
        "trip-booking v1: created, activated",
        "trip-booking-parallel v1: created, activated",
    ]
    assert workflows_export(list(WorkflowDefinition.objects.all())) == exported


def test_importing_a_definition_in_use_unchanged_is_a_no_op() -> None:
    demo_workflows_load()
    process_start(workflow="trip-booking", business_key="k", input=trip_input())
    exported = workflows_export(list(WorkflowDefinition.objects.filter(name="trip-booking")))
    assert workflows_import(exported) == ["trip-booking v1: unchanged (in use)"]


def test_a_changed_definition_in_use_needs_a_new_version() -> None:
    demo_workflows_load()
    process_start(workflow="trip-booking", business_key="k", input=trip_input())
    document = json.loads(workflows_export(list(WorkflowDefinition.objects.filter(name="trip-booking"))))
    document["workflows"][0]["steps"][0]["timeout"] = 99
    with pytest.raises(
        ImportRefused, match="exists with other steps and has processes; give the file a new version"
    ):
        workflows_import(json.dumps(document))


def test_a_file_with_any_problem_changes_nothing_and_says_everything() -> None:
    demo_workflows_load()
    document = json.loads(workflows_export(list(WorkflowDefinition.objects.all())))
    good = {**document["workflows"][0], "name": "brand-new"}
    cyclic = {**document["workflows"][1], "name": "cyclic"}
    cyclic["steps"][0]["depends_on"] = ["notify"]
    unknown = {**document["workflows"][0], "name": "unknown-command"}
    unknown["steps"] = [{**unknown["steps"][0], "command": "payments.teleport"}]
    with pytest.raises(ImportRefused) as refused:
        workflows_import(json.dumps({"format": document["format"], "workflows": [good, cyclic, unknown]}))
    problems = " | ".join(refused.value.problems)
    assert "cyclic v1: step 'payment', depends_on: dependencies form a cycle" in problems
    assert "unknown-command v1: step 'payment', command: unknown command 'payments.teleport'" in problems
    assert not WorkflowDefinition.objects.filter(name__in=["brand-new", "cyclic", "unknown-command"]).exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "file: Invalid JSON"),
        (
            '{"format": "something-else", "workflows": []}',
            "format: Input should be 'trip-orchestrator/workflows'",
        ),
        (
            '{"format": "trip-orchestrator/workflows", '
            '"workflows": [{"name": "x", "version": 0, "steps": []}]}',
            "workflows.0.version: Input should be greater than or equal to 1",
        ),
    ],
)
def test_a_malformed_file_is_refused_with_where(text: str, problem: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        workflows_import(text)
    assert any(p.startswith(problem) for p in refused.value.problems), refused.value.problems


def test_the_management_commands(tmp_path: Path) -> None:
    demo_workflows_load()
    target = tmp_path / "workflows.json"
    call_command("export_workflows", "trip-booking", output=str(target))
    assert json.loads(target.read_text())["workflows"][0]["name"] == "trip-booking"
    with pytest.raises(CommandError, match="no workflow named nope"):
        call_command("export_workflows", "nope")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "trip-orchestrator/workflows", "workflows": [{"name": "x"}]}')
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_workflows", str(broken))


def test_the_admin_imports_a_file(admin_client: object, tmp_path: Path) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    demo_workflows_load()
    document = json.loads(workflows_export(list(WorkflowDefinition.objects.filter(name="trip-booking"))))
    document["workflows"][0]["name"] = "from-file"
    upload = SimpleUploadedFile("w.json", json.dumps(document).encode(), content_type="application/json")
    response = admin_client.post("/admin/orchestrator/workflowdefinition/import/", {"file": upload})  # type: ignore[attr-defined]
    assert response.status_code == 302
    assert WorkflowDefinition.objects.get(name="from-file").status == "active"
    bad = SimpleUploadedFile("w.json", b"{}", content_type="application/json")
    page = admin_client.post("/admin/orchestrator/workflowdefinition/import/", {"file": bad})  # type: ignore[attr-defined]
    assert page.status_code == 200 and b"format: Field required" in page.content


def test_the_admin_exports_the_selected_definitions(admin_client: object) -> None:
    demo_workflows_load()
    selected = WorkflowDefinition.objects.get(name="trip-booking-parallel")
    response = admin_client.post(  # type: ignore[attr-defined]
        "/admin/orchestrator/workflowdefinition/",
        {"action": "export_json", "_selected_action": [selected.pk]},
    )
    assert response["Content-Type"] == "application/json"
    assert [w["name"] for w in json.loads(response.content)["workflows"]] == ["trip-booking-parallel"]
