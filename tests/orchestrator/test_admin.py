"""Workflows in the Django admin: checked definitions, versions, read-only history, actions."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from booking.demo import demo_workflows_load
from orchestrator.definitions import definition_compile
from orchestrator.models import (
    HistoryEntry,
    ProcessInstance,
    StepDefinition,
    WorkflowDefinition,
)
from orchestrator.processes import process_start
from tests.support.admin import definition_post, one_of_everything
from tests.support.engine import answer, last_command, trip_input

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/orchestrator/workflowdefinition/add/"


@pytest.fixture
def superuser() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def errors_of(response: Any) -> str:
    """The text of every error the admin shows on the page."""
    html = unescape(response.content.decode())
    return " | ".join(
        re.sub(r"<[^>]+>", "", e).strip()
        for e in re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
    )


CHARGE = {"key": "payment", "command": "payments.charge", "compensation": "payments.refund"}
FLIGHT = {
    "key": "flight",
    "command": "flights.book",
    "compensation": "flights.cancel",
    "depends_on": "payment",
}


def test_a_valid_definition_is_saved_as_a_draft(superuser: Client) -> None:
    response = superuser.post(ADD_URL, definition_post("simple", [CHARGE, FLIGHT]))
    assert response.status_code == 302, errors_of(response)
    definition = WorkflowDefinition.objects.get(name="simple")
    assert definition.status == "draft"
    assert list(definition.steps.values_list("key", "depends_on")) == [
        ("payment", []),
        ("flight", ["payment"]),
    ]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([CHARGE, {**FLIGHT, "key": "payment"}], "Please correct the duplicate data for key"),
        ([CHARGE, {**FLIGHT, "depends_on": "hotel"}], "no step has the key 'hotel'"),
        ([{**CHARGE, "depends_on": "flight"}, FLIGHT], "dependencies form a cycle"),
        ([{**CHARGE, "depends_on": "payment"}], "a step cannot depend on itself"),
        (
            [{**CHARGE, "command": "payments.teleport"}],
            "Select a valid choice. payments.teleport is not one of",
        ),
        (
            [{"key": "notify", "command": "notifications.send", "compensation": "payments.refund"}],
            "notifications.send declares no compensation",
        ),
        (
            [{**CHARGE, "compensation": "flights.cancel"}],
            "payments.charge is undone by payments.refund, not flights.cancel",
        ),
        (
            [{**CHARGE, "compensation": ""}],
            "payments.charge is undone by payments.refund: choose it, or say on the step",
        ),
        ([{**CHARGE, "max_attempts": 0}], "must be at least 1"),
        ([{**CHARGE, "initial_delay": -1}], "must not be negative"),
        ([{**CHARGE, "multiplier": 0.5}], "must be at least 1"),
        ([{**CHARGE, "timeout": 0}], "must be more than 0 seconds"),
        ([{**CHARGE, "jitter": 2}], "must be between 0 and 1"),
        (
            [
                CHARGE,
                {
                    "key": "bye",
                    "command": "notifications.send",
                    "phase": "after_compensation",
                    "depends_on": "payment",
                },
            ],
            "'payment' runs in another phase",
        ),
        ([], "a workflow needs at least one step"),
    ],
)
def test_a_broken_definition_is_refused_with_the_reason(
    superuser: Client, steps: list[dict[str, Any]], message: str
) -> None:
    response = superuser.post(ADD_URL, definition_post("broken", steps))
    assert response.status_code == 200
    assert message in errors_of(response)
    assert not WorkflowDefinition.objects.filter(name="broken").exists()


def test_the_error_sits_on_the_field_that_is_wrong(superuser: Client) -> None:
    response = superuser.post(ADD_URL, definition_post("broken", [CHARGE, {**FLIGHT, "depends_on": "hotel"}]))
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.forms[1].errors == {"depends_on": ["no step has the key 'hotel'"]}
    assert formset.forms[0].errors == {}


def test_the_definition_page_shows_its_graph_and_its_processes(superuser: Client) -> None:
    demo_workflows_load()
    definition = WorkflowDefinition.objects.get(name="trip-booking")
    process_start(workflow="trip-booking", business_key="k", input=trip_input())
    page = unescape(
        superuser.get(f"/admin/orchestrator/workflowdefinition/{definition.pk}/change/").content.decode()
    )
    assert 'data-step="payment"' in page and 'class="edge"' in page
    assert "?workflow=trip-booking&version=1&status=running" in page
    assert "has processes and cannot change" in page


def test_a_new_version_activated_serves_new_processes_while_running_ones_keep_theirs(
    superuser: Client,
) -> None:
    demo_workflows_load()
    v1 = WorkflowDefinition.objects.get(name="trip-booking", version=1)
    old, _ = process_start(workflow="trip-booking", business_key="old", input=trip_input())
    changelist = "/admin/orchestrator/workflowdefinition/"
    superuser.post(changelist, {"action": "new_version", "_selected_action": [v1.pk]})
    v2 = WorkflowDefinition.objects.get(name="trip-booking", version=2)
    assert v2.status == "draft" and v2.steps.count() == v1.steps.count()
    # The draft gets a car rental after the hotel.
    StepDefinition.objects.filter(definition=v2, key="notify").update(depends_on=["car"])
    StepDefinition.objects.create(
        definition=v2,
        position=3,
        key="car",
        command="cars.book",
        compensation="cars.cancel",
        depends_on=["hotel"],
    )
    superuser.post(changelist, {"action": "activate", "_selected_action": [v2.pk]})
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == ("retired", "active")

    new, _ = process_start(workflow="trip-booking", business_key="new", input=trip_input())
    assert new.definition_id == v2.pk
    for process, steps in (
        (old, ["payment", "flight", "hotel", "notify"]),
        (new, ["payment", "flight", "hotel", "car", "notify"]),
    ):
        for step in steps:
            answer(last_command(process, step))
        process.refresh_from_db()
        assert process.status == "completed"
    assert old.definition_id == v1.pk and "car" not in old.context


def test_activating_an_invalid_draft_is_refused(superuser: Client) -> None:
    demo_workflows_load()
    draft = WorkflowDefinition.objects.create(name="half", version=1)
    StepDefinition.objects.create(definition=draft, key="a", command="payments.charge", depends_on=["b"])
    response = superuser.post(
        "/admin/orchestrator/workflowdefinition/",
        {"action": "activate", "_selected_action": [draft.pk]},
        follow=True,
    )
    assert "cannot be activated" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


def existing_object(model: Any) -> Any:
    return model._default_manager.first()


def test_every_admin_page_renders(superuser: Client, sent_tasks: Any) -> None:
    """A smoke test over every registered model: its list, its add page, one change page."""
    one_of_everything()
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        assert superuser.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200, model
        if model_admin.has_add_permission(_request(superuser)):
            assert superuser.get(reverse("admin:{}_{}_add".format(*info))).status_code == 200, model
        obj = existing_object(model)
        assert obj is not None, f"no {model.__name__} to look at"
        assert superuser.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk])).status_code == 200, (
            model
        )


def _request(client: Client) -> Any:
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = get_user_model().objects.get(username="root")
    return request


@pytest.mark.parametrize("model", [HistoryEntry, ProcessInstance])
def test_the_history_refuses_edits_and_deletes_in_the_admin(superuser: Client, model: type) -> None:
    demo_workflows_load()
    process_start(workflow="trip-booking", business_key="k", input=trip_input())
    obj = model._default_manager.first()  # type: ignore[attr-defined]
    info = (model._meta.app_label, model._meta.model_name)  # type: ignore[attr-defined]
    change = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
    assert superuser.post(change, {"note": "edited", "status": "completed"}).status_code == 403
    assert (
        superuser.post(
            reverse("admin:{}_{}_delete".format(*info), args=[obj.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert model._default_manager.filter(pk=obj.pk).exists()  # type: ignore[attr-defined]


def test_admin_actions_go_through_the_engine_with_the_same_permissions(superuser: Client) -> None:
    demo_workflows_load()
    process, _ = process_start(workflow="trip-booking", business_key="k", input=trip_input())
    changelist = "/admin/orchestrator/processinstance/"
    ask = superuser.post(changelist, {"action": "cancel", "_selected_action": [process.pk]})
    assert b"Why? (kept in the history)" in ask.content  # a confirmation page first
    superuser.post(
        changelist,
        {
            "action": "cancel",
            "_selected_action": [process.pk],
            "confirm": "yes",
            "reason": "duplicate booking",
        },
    )
    event = HistoryEntry.objects.filter(process=process).order_by("-seq").first()
    assert event is not None
    assert (event.type, event.actor, event.reason) == (
        "operator.cancelled",
        "root",
        "admin: duplicate booking",
    )

    staff = get_user_model().objects.create_user("sam", password="pw", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.set(Permission.objects.filter(codename="view_processinstance"))
    client = Client()
    client.force_login(staff)
    page = client.get(changelist).content.decode()
    assert 'value="cancel"' not in page and 'value="retry"' not in page


def test_viewing_workflows_does_not_allow_activating_or_retiring_them() -> None:
    from django.contrib.auth.models import Permission

    demo_workflows_load()
    viewer = get_user_model().objects.create_user("vera", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_workflowdefinition"))
    client = Client()
    client.force_login(viewer)
    page = client.get("/admin/orchestrator/workflowdefinition/").content.decode()
    assert (
        'value="retire"' not in page and 'value="activate"' not in page and 'value="new_version"' not in page
    )
    ids = list(WorkflowDefinition.objects.values_list("pk", flat=True))
    client.post("/admin/orchestrator/workflowdefinition/", {"action": "retire", "_selected_action": ids})
    assert set(WorkflowDefinition.objects.values_list("status", flat=True)) == {"active"}


def test_a_staff_user_makes_api_tokens_only_for_themselves(superuser: Client) -> None:
    from django.contrib.auth.models import Permission

    from api.models import ApiToken

    boss = get_user_model().objects.get(username="root")
    staff = get_user_model().objects.create_user("sam", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    client = Client()
    client.force_login(staff)
    client.post("/admin/api/apitoken/add/", {"user": boss.pk, "name": "sneaky"})
    token = ApiToken.objects.get(name="sneaky")
    assert token.user == staff


def test_a_step_kept_on_compensation_is_saved_and_shown_as_a_warning(superuser: Client) -> None:
    fee = {**CHARGE, "compensation": "", "keep_on_compensation": "on"}
    response = superuser.post(ADD_URL, definition_post("fee", [fee]))
    assert response.status_code == 302, errors_of(response)
    definition = WorkflowDefinition.objects.get(name="fee")
    page = unescape(
        superuser.get(f"/admin/orchestrator/workflowdefinition/{definition.pk}/change/").content.decode()
    )
    assert "What payment did is kept when a process compensates" in page


def import_file(client: Client, document: dict[str, Any]) -> Any:
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("w.json", json.dumps(document).encode(), content_type="application/json")
    return client.post(reverse("admin:orchestrator_workflow_import"), {"file": upload})


def test_importing_needs_the_same_permissions_as_activating_and_retiring() -> None:
    import json

    from django.contrib.auth.models import Permission

    from orchestrator.workflow_io import workflows_export

    demo_workflows_load()
    live = WorkflowDefinition.objects.get(name="trip-booking")
    adder = get_user_model().objects.create_user("ada", password="pw", is_staff=True)
    adder.user_permissions.set(
        Permission.objects.filter(codename__in=["add_workflowdefinition", "view_workflowdefinition"])
    )
    client = Client()
    client.force_login(adder)
    document = json.loads(workflows_export([live]))

    retire = {**document, "workflows": [{**document["workflows"][0], "status": "retired"}]}
    page = unescape(import_file(client, retire).content.decode())
    assert "trip-booking v1: you may not retire a version" in page

    newer = {**document["workflows"][0], "version": 2, "status": "active"}
    page = unescape(import_file(client, {**document, "workflows": [newer]}).content.decode())
    assert "trip-booking v2: you may not activate a version" in page
    live.refresh_from_db()
    assert live.status == "active" and not WorkflowDefinition.objects.filter(version=2).exists()

    draft = {**newer, "status": "draft"}
    assert import_file(client, {**document, "workflows": [draft]}).status_code == 302
    assert WorkflowDefinition.objects.get(name="trip-booking", version=2).status == "draft"
    edited = {**draft, "description": "changed behind the admin's back"}
    page = unescape(import_file(client, {**document, "workflows": [edited]}).content.decode())
    assert "trip-booking v2: you may not replace an existing version" in page


def test_the_admin_searches_processes_as_the_dashboard_does(superuser: Client) -> None:
    """By booking reference and e-mail (which the booking app registers), key and id."""
    from decimal import Decimal

    from booking.bookings import booking_create
    from tests.support.engine import trip_input as trip

    demo_workflows_load()
    fields = trip()
    booking = booking_create(
        customer_name=fields["customer_name"],
        customer_email="grace@example.com",
        itinerary=fields["itinerary"],
        amount=Decimal(fields["amount"]),
        currency=fields["currency"],
    )
    assert booking.process is not None
    for term in (booking.reference, "GRACE@example.com", str(booking.process.pk)):
        page = superuser.get("/admin/orchestrator/processinstance/", {"q": term}).content.decode()
        assert page.count('name="_selected_action"') == 1, term
        assert booking.process.business_key in page, term
    nobody = superuser.get("/admin/orchestrator/processinstance/", {"q": "nobody"}).content.decode()
    assert 'name="_selected_action"' not in nobody


BANK_WAIT = {
    "key": "bank",
    "command": "",
    "depends_on": "payment",
    "timeout": 600,
    "wait": json.dumps({"kind": "signal", "signals": ["payment_confirmed"], "fail_on": ["payment_declined"]}),
}
SIGNALS = json.dumps(
    [
        {"name": "payment_confirmed", "schema": {"type": "object"}, "early": "keep"},
        {"name": "payment_declined", "early": "refuse"},
    ]
)


def test_a_wait_step_and_the_signals_it_waits_for_are_edited_in_the_admin(superuser: Client) -> None:
    post = {
        **definition_post("banked", [CHARGE, BANK_WAIT, {**FLIGHT, "depends_on": "bank"}]),
        "signals": SIGNALS,
    }
    response = superuser.post(ADD_URL, post)
    assert response.status_code == 302, errors_of(response)
    compiled = definition_compile(WorkflowDefinition.objects.get(name="banked"))
    bank = compiled.step("bank")
    assert bank.wait is not None and bank.wait.signals == ("payment_confirmed",) and bank.command == ""
    assert [signal.name for signal in compiled.signals] == ["payment_confirmed", "payment_declined"]


@pytest.mark.parametrize(
    ("wait", "signals", "where", "message"),
    [
        ({"kind": "signal", "signals": ["nope"]}, SIGNALS, "wait", "the workflow declares no signal 'nope'"),
        ({"kind": "nap"}, SIGNALS, "wait", "not a wait: 'nap' is not a valid WaitKind"),
        ({"kind": "sleep", "seconds": 0}, SIGNALS, "wait", "sleeps more than 0 s and at most 30 days"),
        (None, SIGNALS, "command", "Choose a command, or describe what the step waits for"),
        (
            {"kind": "signal", "signals": ["payment_confirmed"]},
            json.dumps([{"name": "payment_confirmed", "schema": {"type": 7}}]),
            "signals",
            "payment_confirmed: its schema is not a JSON Schema",
        ),
        (
            {"kind": "signal", "signals": ["payment_confirmed"]},
            json.dumps([{"schema": {}}]),
            "signals",
            "not a list of signals",
        ),
    ],
)
def test_a_wrong_wait_or_signal_is_refused_where_it_is(
    superuser: Client, wait: dict[str, Any] | None, signals: str, where: str, message: str
) -> None:
    step = {**BANK_WAIT, "wait": json.dumps(wait) if wait is not None else ""}
    post = {**definition_post("banked", [CHARGE, step]), "signals": signals}
    response = superuser.post(ADD_URL, post)
    assert response.status_code == 200
    if where == "signals":
        assert any(
            message in error for error in response.context["adminform"].form.errors.get("signals", [])
        ), errors_of(response)
    else:
        formset = response.context["inline_admin_formsets"][0].formset
        assert any(message in error for error in formset.forms[1].errors.get(where, [])), errors_of(response)
    assert not WorkflowDefinition.objects.filter(name="banked").exists()
