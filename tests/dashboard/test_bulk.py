"""Bulk retry and cancel: preview, throttled rollout, progress, stop."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from dashboard.bulk import bulk_advance
from dashboard.models import BulkAction
from orchestrator.models import HistoryEntry, ProcessInstance
from tests.support.bookings import FRAGILE_TRIP, book
from tests.support.engine import answer, last_command
from tests.support.people import READ_PERMISSIONS, user_with

pytestmark = pytest.mark.usefixtures("fragile_workflow")


def waiting(n: int) -> list[ProcessInstance]:
    processes = []
    for _ in range(n):
        process = book(FRAGILE_TRIP).process
        assert process is not None
        answer(last_command(process, "payment"), succeeded=False)
        processes.append(process)
    return processes


def test_bulk_needs_its_permission(viewer: Client) -> None:
    assert viewer.get("/bulk/retry/").status_code == 403
    assert viewer.post("/bulk/cancel/", {"reason": "x"}).status_code == 403


def test_the_preview_counts_processes_and_the_services_called(operator: Client) -> None:
    waiting(3)
    book(FRAGILE_TRIP)  # running: a retry does not apply to it
    dialog = operator.get("/bulk/retry/").content.decode()
    assert "<strong>3</strong> processes will be retried" in dialog
    assert "1 matching one will be left alone" in dialog
    assert "payments will receive 3 commands" in dialog


def test_the_preview_follows_the_filters_and_the_selection(operator: Client) -> None:
    first, second, _ = waiting(3)
    filtered = operator.get("/bulk/cancel/", {"status": "waiting", "ids": [str(first.pk), str(second.pk)]})
    assert "<strong>2</strong> processes will be cancelled" in filtered.content.decode()
    assert "2 selected" in filtered.content.decode()


def test_a_rollout_goes_at_the_chosen_rate_and_can_be_stopped(operator: Client) -> None:
    processes = waiting(5)
    response = operator.post(
        "/bulk/retry/", {"status": "waiting", "rate": "2", "reason": "payments fixed"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    bulk = BulkAction.objects.get()
    assert (bulk.total, bulk.rate, bulk.status) == (5, 2.0, "running")
    assert bulk.description == "status: Waiting for an operator"
    now = timezone.now() + timedelta(seconds=1)
    assert bulk_advance(now=now) == 2  # two per second
    assert bulk_advance(now=now) == 0  # not due again within the same second
    assert bulk_advance(now=now + timedelta(seconds=1)) == 2
    bulk.refresh_from_db()
    assert (bulk.position, bulk.applied) == (4, 4)
    assert operator.post(f"/bulk/{bulk.pk}/stop/").status_code == 302
    assert bulk_advance(now=now + timedelta(seconds=5)) == 0
    bulk.refresh_from_db()
    assert bulk.status == "stopped" and bulk.position == 4
    retried = HistoryEntry.objects.filter(
        type="operator.retried", actor="olga", reason="bulk retry: payments fixed"
    )
    assert retried.count() == 4
    assert ProcessInstance.objects.filter(pk__in=[p.pk for p in processes], status="running").count() == 4


def test_a_process_that_changed_meanwhile_is_skipped_with_the_reason(operator: Client) -> None:
    first, _ = waiting(2)
    operator.post("/bulk/cancel/", {"status": "waiting", "rate": "10", "reason": "sold out"})
    operator.post(f"/processes/{first.pk}/actions/cancel/", {"reason": "by hand"})  # someone was faster
    bulk_advance(now=timezone.now() + timedelta(seconds=1))
    bulk = BulkAction.objects.get()
    assert (bulk.status, bulk.applied, bulk.skipped) == ("finished", 1, 1)
    assert "already being cancelled" in bulk.problems[0]


def test_bad_rate_or_missing_reason_is_refused(operator: Client) -> None:
    waiting(1)
    assert operator.post("/bulk/retry/", {"rate": "500", "reason": "x"}).status_code == 422
    assert operator.post("/bulk/retry/", {"rate": "5", "reason": ""}).status_code == 422
    assert not BulkAction.objects.exists()


def test_a_filter_that_cannot_be_read_never_widens_a_bulk_action(operator: Client) -> None:
    waiting(2)
    response = operator.post(
        "/bulk/cancel/", {"status": "waiting", "created_after": "yesterday", "rate": "5", "reason": "x"}
    )
    assert response.status_code == 422
    assert b"Some filters could not be read" in response.content
    assert not BulkAction.objects.exists()


def test_selected_ids_that_are_not_ids_are_ignored(operator: Client) -> None:
    waiting(1)
    assert operator.get("/bulk/retry/", {"ids": ["nope", ""]}).status_code == 200


def test_a_long_description_is_cut_to_fit(operator: Client) -> None:
    email = f"{'a' * 60}@{'b' * 60}.{'c' * 60}.example.com"
    process = book(FRAGILE_TRIP, customer_email=email).process
    assert process is not None
    answer(last_command(process, "payment"), succeeded=False)
    filters = {
        "q": email,
        "status": "waiting",
        "workflow": "fragile-trip",
        "version": "1",
        "created_after": "2020-01-01T00:00",
        "created_before": "2099-01-01T00:00",
        "waiting": "on",
    }
    response = operator.post("/bulk/retry/", {**filters, "rate": "5", "reason": "x"})
    assert response.status_code == 302
    assert len(BulkAction.objects.get().description) == BulkAction.DESCRIPTION_LENGTH


def test_a_broken_process_is_skipped_and_other_rollouts_go_on(operator: Client, monkeypatch: Any) -> None:
    from dashboard import bulk as rollout

    first, second = waiting(2)
    operator.post("/bulk/retry/", {"ids": [str(first.pk)], "rate": "5", "reason": "a"})
    operator.post("/bulk/retry/", {"ids": [str(second.pk)], "rate": "5", "reason": "b"})
    real = rollout.operator_act

    def flaky(*, process_id: str, **kwargs: Any) -> Any:
        if process_id == str(first.pk):
            raise RuntimeError("corrupt snapshot")
        return real(process_id=process_id, **kwargs)

    monkeypatch.setattr(rollout, "operator_act", flaky)
    bulk_advance(now=timezone.now() + timedelta(seconds=1))
    results = {b.reason: (b.status, b.applied, b.skipped) for b in BulkAction.objects.all()}
    assert results == {"a": ("finished", 0, 1), "b": ("finished", 1, 0)}
    assert (
        "could not be applied: RuntimeError: corrupt snapshot"
        in BulkAction.objects.get(reason="a").problems[0]
    )


@pytest.mark.parametrize("change", ["permission removed", "account deactivated"])
def test_a_rollout_halts_when_its_creator_may_no_longer_run_it(operator: Client, change: str) -> None:
    waiting(4)
    operator.post("/bulk/retry/", {"status": "waiting", "rate": "2", "reason": "payments fixed"})
    now = timezone.now() + timedelta(seconds=1)
    assert bulk_advance(now=now) == 2
    olga = get_user_model().objects.get(username="olga")
    if change == "permission removed":
        olga.user_permissions.remove(Permission.objects.get(codename="retry_step"))
        expected = "olga no longer has the permission 'orchestrator.retry_step'"
    else:
        olga.is_active = False
        olga.save()
        expected = "olga's account is no longer active"
    assert bulk_advance(now=now + timedelta(seconds=1)) == 0
    bulk = BulkAction.objects.get()
    assert (bulk.status, bulk.position, bulk.stop_reason) == ("halted", 2, expected)
    assert HistoryEntry.objects.filter(type="operator.retried").count() == 2
    # The operators see why it stopped, where they watched it run.
    page = user_with("vera", permissions=READ_PERMISSIONS).get("/").content.decode()
    assert f"Halted at 2 of 4: {expected}" in html.unescape(page)
