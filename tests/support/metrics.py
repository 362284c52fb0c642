"""Scraping /metrics in tests, and processes of their own writing to a multiprocess directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

# A process of its own that records `n` trips started, sent one command and completed in 2 s,
# through the engine's counters, then exits.
_RECORD = """
import sys

import django

django.setup()
from orchestrator import counters

n = int(sys.argv[1])
tally = counters.Tally("trip-booking", started=True, outcome="completed", duration=2.0)
tally.sent.append("payments.charge")
counters.tallies_record([tally] * n)
counters.replies_handled(n, 0.001 * n)
"""


def scrape_text(client: Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return response.content.decode()


def scrape(client: Client) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scrape_text(client))
        for sample in family.samples
    }


def record_in_a_process(directory: Path, n: int) -> None:
    """Run a Python process that records `n` trips into the multiprocess `directory`."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    subprocess.run(
        [sys.executable, "-c", _RECORD, str(n)], cwd=PROJECT_ROOT, env=env, check=True, timeout=120
    )
