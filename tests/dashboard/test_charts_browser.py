"""The Metrics page in a real browser: the charts are drawn and their figures are the JSON's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from orchestrator.processes import process_start
from tests.support.engine import answer, last_command, trip_input
from tests.support.people import READ_PERMISSIONS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("trip_workflows")]


def test_the_charts_are_drawn_with_the_figures_of_the_json(live_server: Any, browser: Any) -> None:
    for i in range(3):
        process, _ = process_start(
            workflow="trip-booking", business_key=f"TRP-UI{i}", input=trip_input(f"TRP-UI{i}")
        )
        answer(last_command(process, "payment"), succeeded=i != 1)
    user = get_user_model().objects.create_user(username="charlotte", password="pw-123456789", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=READ_PERMISSIONS))

    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    page.goto(f"{live_server.url}/login/?next=/charts/")
    page.fill("input[name=username]", "charlotte")
    page.fill("input[name=password]", "pw-123456789")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{live_server.url}/charts/")

    # The script marks the root when a drawing is done (and fires "charts:drawn").
    page.wait_for_selector("#charts[data-state=drawn]", timeout=15_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "charts.png"), full_page=True)

    assert page.locator("#chart-throughput canvas").count() == 1
    assert page.locator("#chart-failures canvas").count() == 1
    assert page.locator("#chart-backlog canvas").count() == 1
    figures = page.evaluate("fetch('/charts/data?range=1h').then((r) => r.json())")
    assert figures["throughput"]["started_total"] == 3
    assert page.text_content("[data-figure=started_total]") == "3"
    assert page.text_content("[data-figure=ended_total]") == str(figures["throughput"]["ended_total"])
    payments = figures["failure_rate"]["payments"]
    assert (payments["failed"], payments["attempts"]) == (1, 3)
    row = page.locator("#failure-rows tr", has_text="payments")
    assert row.locator("td").all_text_contents() == ["1", "3", f"{payments['rate']:.4f}"]
    latency = page.locator("#latency-rows tr", has_text="payment").locator("td").all_text_contents()
    assert latency[0] == "3" == str(figures["latency_ms"]["payment"]["n"])
    assert page.text_content("[data-figure=outbox_unpublished]") == str(
        figures["backlog"]["now"]["outbox_unpublished"]
    )

    # Another range redraws, and says which.
    page.select_option("#charts-range", "15m")
    page.wait_for_selector("#charts[data-state=drawn][data-range='15m']", timeout=15_000)
    page.close()
