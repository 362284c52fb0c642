"""The list shows trouble: retrying after failures, in doubt, waiting; counts and the attention panel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from orchestrator.processes import timers_fire
from tests.support.trouble import fail_payment, patient_workflow, started  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("patient_workflow")


def test_a_booking_retrying_after_failures_is_not_shown_as_running(operator: Client) -> None:
    started()
    failing = fail_payment(started(), 2)
    page = operator.get("/").content.decode()
    row = page[page.index(f'id="row-{failing.pk}"') :].split("</tr>")[0]
    assert 'data-trouble="retrying"' in row and "Retrying after failures" in row
    assert "payment: attempt 2 of 4" in row and "next try in" in row and "boom" in row
    assert "data-row-retry" in row
    assert '<span class="n">1</span><span class="label">retrying</span>' in page


def test_failing_now_and_had_retries_are_two_filters(operator: Client) -> None:
    healthy, failing = started(), fail_payment(started(), 1)
    failing_now = operator.get("/", {"failing": "on"}).content.decode()
    assert failing.business_key in failing_now and healthy.business_key not in failing_now
    assert failing.business_key not in operator.get("/", {"had_retries": "on"}).content.decode()


def test_what_waits_for_an_operator_is_first_in_the_attention_panel_with_retry_now(operator: Client) -> None:
    waiting = fail_payment(started(), 4)
    page = operator.get("/").content.decode()
    panel = page[page.index('id="attention"') : page.index("</section>", page.index('id="attention"'))]
    assert f'data-attention="{waiting.business_key}"' in panel and "waiting for an operator" in panel
    assert f"/processes/{waiting.pk}/actions/retry/?step=payment" in panel
    # Confirmed from the list: the answer closes the dialog; the list's socket shows the rest.
    done = operator.post(
        f"/processes/{waiting.pk}/actions/retry/",
        {"step": "payment"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/?failing=on",
    )
    assert done.status_code == 200 and 'id="process-header"' not in done.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == "running"


def test_a_viewer_gets_look_not_retry(viewer: Client) -> None:
    waiting = fail_payment(started(), 4)
    page = viewer.get("/").content.decode()
    assert f"/processes/{waiting.pk}/actions/retry/" not in page
    assert "Look</a>" in page


def test_a_booking_waiting_for_an_operator_says_so_though_a_step_was_in_doubt(operator: Client) -> None:
    process = started()
    for _ in range(2):  # the payment times out (in doubt), then its retry is due
        assert process.wake_at is not None
        timers_fire(now=process.wake_at + timedelta(milliseconds=1))
        process.refresh_from_db()
    assert process.in_doubt
    waiting = fail_payment(process, 3)  # attempts 2 to 4 fail: it waits for an operator
    assert waiting.status_now.waits_for_operator and waiting.in_doubt
    page = operator.get("/").content.decode()
    row = page[page.index(f'id="row-{waiting.pk}"') :].split("</tr>")[0]
    assert "status-waiting" in row and "Waiting for an operator" in row
    assert "data-trouble" not in row  # the in-doubt tag stays beside the key
    assert "data-row-retry" in row
