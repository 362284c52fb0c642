"""The attention panel in a real browser: a booking that gets stuck shows up in it within a second,
and an operator resolves it from the list page in at most three clicks.

The web server (`manage.py serve`, production mode: Redis channel layer, the test database) runs
alone, without workers; the test drives the engine itself (the bookings' commands are answered
through its real entry point), so that nothing but the test decides when a booking gets stuck.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from orchestrator.models import ProcessInstance
from tests.support.bookings import FRAGILE_TRIP, book
from tests.support.engine import answer, last_command
from tests.support.people import OPERATOR_PERMISSIONS
from tests.support.processes import WatchedProcess, free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-attention-123"

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fragile_workflow")]


@pytest.fixture
def web(production_env: dict[str, str]) -> Iterator[str]:
    """The web server alone, on the test database; yields its base URL."""
    port = free_port()
    env = {**production_env, "SECRET_KEY": "attention-" + "k" * 40, "DEBUG": "0"}
    server = WatchedProcess(
        [sys.executable, "manage.py", "serve", "--port", str(port)], env=env, cwd=ROOT
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_for_line(r"Serving on", timeout=60)
        wait_until(lambda: answers(f"{base}/healthz"), 30, lambda: server.output)
        yield base
    finally:
        server.interrupt()


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except OSError:
        return False
    return True


def logged_in(browser: Any, base: str) -> Any:
    user = get_user_model().objects.create_user(username="olga", password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=OPERATOR_PERMISSIONS))
    page = browser.new_page(viewport={"width": 1440, "height": 950})
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.wait_for_selector("#live-state[data-state=open]")  # the socket is up: changes will show
    return page


def stuck_now(process: ProcessInstance) -> None:
    """The payment fails; with one attempt allowed, the booking waits for an operator."""
    answer(last_command(process, "payment"), succeeded=False)


def test_a_booking_appears_in_the_attention_panel_within_a_second_of_getting_stuck(
    browser: Any, web: str
) -> None:
    page = logged_in(browser, web)
    process = book(FRAGILE_TRIP).process
    assert process is not None
    page.locator(f"#row-{process.pk}").wait_for(timeout=5_000)  # on the list, not in the panel
    assert page.locator(f"#attention-{process.pk}").count() == 0

    started = time.monotonic()
    stuck_now(process)
    page.locator(f"#attention-{process.pk}").wait_for(timeout=5_000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the panel showed the stuck booking after {elapsed:.2f} s"
    entry = page.locator(f"#attention-{process.pk}").inner_text()
    assert "waiting for an operator" in entry and "Retry now" in entry
    assert page.text_content("#counts [data-count=waiting] .n") == "1"
    page.close()


def test_an_operator_resolves_a_failing_booking_from_the_list_in_three_clicks(browser: Any, web: str) -> None:
    process = book(FRAGILE_TRIP).process
    assert process is not None
    stuck_now(process)
    page = logged_in(browser, web)
    page.locator(f"#attention-{process.pk}").wait_for()

    clicks = 0

    def click(selector: str) -> None:
        nonlocal clicks
        clicks += 1
        page.click(selector)

    click(f"#attention-{process.pk} [data-attention-retry]")
    dialog = page.locator("dialog[open]")
    dialog.wait_for()
    assert "again now" in dialog.inner_text()  # the preview, before anyone confirms
    click("dialog[open] [data-confirm]")
    # The booking resumes: it leaves the panel and its row no longer waits for an operator.
    page.locator(f"#attention-{process.pk}").wait_for(state="detached", timeout=5_000)
    page.locator(f"#row-{process.pk} .badge.status-running").wait_for(timeout=5_000)
    process.refresh_from_db()
    assert process.status == "running"
    assert process.events.filter(type="operator.retried", actor="olga").count() == 1
    assert clicks <= 3, f"{clicks} clicks"
    page.close()
