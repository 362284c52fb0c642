"""Operator actions from the dashboard: permissions, previews, effects through the engine."""

from __future__ import annotations

import pytest
from django.test import Client

from orchestrator.models import HistoryEntry, ProcessInstance
from tests.support.bookings import FRAGILE_TRIP, book
from tests.support.engine import answer, last_command

pytestmark = pytest.mark.usefixtures("fragile_workflow")


def waiting_for_operator() -> ProcessInstance:
    """A booking whose payment failed for good: it waits for an operator."""
    process = book(FRAGILE_TRIP).process
    assert process is not None
    answer(last_command(process, "payment"), succeeded=False)
    process.refresh_from_db()
    assert process.status == "waiting"
    return process


def test_a_user_without_permission_sees_no_action_and_gets_403_on_a_forged_post(viewer: Client) -> None:
    process = waiting_for_operator()
    page = viewer.get(f"/processes/{process.pk}/").content.decode()
    assert "data-action=" not in page
    for action in ("retry", "skip", "cancel", "compensate", "pause", "resume", "terminate"):
        forged = viewer.post(f"/processes/{process.pk}/actions/{action}/", {"step": "payment", "reason": "x"})
        assert forged.status_code == 403, action
    assert HistoryEntry.objects.filter(process=process).count() == 2


def test_an_operator_sees_the_actions_that_apply(operator: Client) -> None:
    process = waiting_for_operator()
    page = operator.get(f"/processes/{process.pk}/").content.decode()
    assert 'data-action="retry" data-step="payment"' in page
    assert 'data-action="skip" data-step="payment"' in page
    assert 'data-action="cancel"' in page
    assert 'data-action="pause"' not in page  # a process waiting for an operator cannot be paused


def test_the_retry_dialog_says_what_will_happen(operator: Client) -> None:
    process = waiting_for_operator()
    dialog = operator.get(f"/processes/{process.pk}/actions/retry/", {"step": "payment"}).content.decode()
    assert (
        "Send payments.charge for payment again now (charge 420.00 EUR to Ada Lovelace), as attempt 2"
        in dialog
    )
    assert "fresh budget of 1 attempts" in dialog


def test_retry_goes_through_the_engine_with_who_and_why(operator: Client) -> None:
    process = waiting_for_operator()
    response = operator.post(
        f"/processes/{process.pk}/actions/retry/",
        {"step": "payment", "reason": "payments are back"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'id="process-header"' in response.content.decode()  # the page gets the outcome
    process.refresh_from_db()
    assert process.status == "running"
    event = HistoryEntry.objects.filter(process=process).order_by("-seq").first()
    assert event is not None
    assert (event.type, event.step, event.actor, event.reason) == (
        "operator.retried",
        "payment",
        "olga",
        "payments are back",
    )
    assert last_command(process, "payment").attempt == 2


def test_an_action_without_a_reason_is_refused_with_a_message(operator: Client) -> None:
    process = waiting_for_operator()
    response = operator.post(f"/processes/{process.pk}/actions/cancel/", {"reason": " "})
    assert response.status_code == 422
    assert b"Say why" in response.content


def test_a_plain_retry_needs_no_reason(operator: Client) -> None:
    process = waiting_for_operator()
    dialog = operator.get(f"/processes/{process.pk}/actions/retry/").content.decode()
    assert "optional" in dialog and 'name="reason" required' not in dialog
    response = operator.post(f"/processes/{process.pk}/actions/retry/", {"reason": " "})
    assert response.status_code == 302
    process.refresh_from_db()
    assert process.status == "running"
    assert process.events.filter(type="operator.retried").get().reason == ""


def test_an_action_that_no_longer_applies_is_a_409_with_the_reason(operator: Client) -> None:
    process = waiting_for_operator()
    response = operator.post(f"/processes/{process.pk}/actions/resume/", {"reason": "because"})
    assert response.status_code == 409
    assert b"the process is not paused" in response.content


def test_skip_checks_the_output_against_the_command(operator: Client) -> None:
    process = waiting_for_operator()
    dialog = operator.get(f"/processes/{process.pk}/actions/skip/", {"step": "payment"}).content.decode()
    assert 'name="output_payment_id"' in dialog
    bad = operator.post(
        f"/processes/{process.pk}/actions/skip/",
        {
            "step": "payment",
            "reason": "charged by phone",
            "output_payment_id": "",
            "output_amount": "420.00",
            "output_currency": "EUR",
        },
    )
    assert bad.status_code == 422
    assert b"payment_id" in bad.content
    good = operator.post(
        f"/processes/{process.pk}/actions/skip/",
        {
            "step": "payment",
            "reason": "charged by phone",
            "output_payment_id": "pay_PHONE",
            "output_amount": "420.00",
            "output_currency": "EUR",
        },
    )
    assert good.status_code == 302  # not htmx: back to the page
    process.refresh_from_db()
    assert process.state["steps"]["payment"]["skip_output"]["payment_id"] == "pay_PHONE"


def test_the_cancel_dialog_lists_the_compensations_it_will_run(operator: Client) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    answer(last_command(process, "flight"), pnr="XY12ZQ")
    dialog = operator.get(f"/processes/{process.pk}/actions/cancel/").content.decode()
    assert "Wait for hotel (under way now) to answer" in dialog
    assert "Undo hotel if it succeeds: Cancel the hotel booked for the trip" in dialog
    assert dialog.index("Undo hotel") < dialog.index("Undo flight")
    assert "Undo flight: cancel flight PNR XY12ZQ" in dialog
    assert "Undo payment: refund 420.00 EUR (payment pay_1)" in dialog
    assert dialog.index("Undo flight") < dialog.index("Undo payment")  # newest first
    assert "The process ends cancelled" in dialog


def test_pause_and_resume(operator: Client) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    operator.post(f"/processes/{process.pk}/actions/pause/", {"reason": "card issuer down"})
    process.refresh_from_db()
    assert process.status == "paused"
    operator.post(f"/processes/{process.pk}/actions/resume/", {"reason": "back"})
    process.refresh_from_db()
    assert process.status == "running"


def test_unknown_actions_and_steps_are_404(operator: Client) -> None:
    process = waiting_for_operator()
    assert operator.get(f"/processes/{process.pk}/actions/explode/").status_code == 404
    assert operator.get(f"/processes/{process.pk}/actions/retry/", {"step": "nope"}).status_code == 404


def test_actions_are_post_only_for_effects(operator: Client) -> None:
    process = waiting_for_operator()
    operator.get(f"/processes/{process.pk}/actions/retry/", {"step": "payment", "reason": "x"})
    process.refresh_from_db()
    assert process.status == "waiting"  # a GET only shows the dialog


def test_cancel_from_the_page_compensates_and_ends_cancelled(operator: Client) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    operator.post(f"/processes/{process.pk}/actions/cancel/", {"reason": "customer called"})
    process.refresh_from_db()
    assert process.status == "compensating"
    answer(last_command(process, "flight"), pnr="XY12ZQ")  # in flight when cancelled: undone next
    answer(last_command(process, "flight"), cancelled=True, reference="XY12ZQ")
    answer(last_command(process, "payment"), refund_id="re_1", amount="420.00", currency="EUR")
    answer(last_command(process, "notify_cancelled"), notification_id="n1", to="ada@example.com")
    process.refresh_from_db()
    assert process.status == "cancelled"


def test_compensate_now_retries_failed_compensations(operator: Client) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    answer(last_command(process, "flight"), succeeded=False, business=True)  # no seats: compensate
    answer(last_command(process, "payment"), succeeded=False)  # the refund fails, budget spent
    process.refresh_from_db()
    assert process.status == "waiting"
    dialog = operator.get(f"/processes/{process.pk}/actions/compensate/").content.decode()
    assert "Try again now to undo payment: refund 420.00 EUR (payment pay_1)" in dialog
    operator.post(f"/processes/{process.pk}/actions/compensate/", {"reason": "refunds work again"})
    refund = last_command(process, "payment")
    assert (refund.command, refund.attempt) == ("payments.refund", 2)
    process.refresh_from_db()
    assert process.status == "compensating"


def test_terminate_from_the_page_names_what_stays_then_ends_at_once(operator: Client) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    answer(last_command(process, "payment"), payment_id="pay_1", amount="420.00", currency="EUR")
    page = operator.get(f"/processes/{process.pk}/").content.decode()
    assert 'data-action="terminate"' in page
    dialog = operator.get(f"/processes/{process.pk}/actions/terminate/").content.decode()
    assert "End the process now, without undoing anything" in dialog
    assert (
        "payment: charge 420.00 EUR to Ada Lovelace (done); not sent: refund 420.00 EUR (payment pay_1)"
        in dialog
    )
    assert "The process ends terminated" in dialog
    operator.post(f"/processes/{process.pk}/actions/terminate/", {"reason": "settled by phone"})
    process.refresh_from_db()
    assert process.status == "terminated"
    page = operator.get(f"/processes/{process.pk}/").content.decode()
    assert 'data-action="cancel"' not in page  # nothing applies any more
