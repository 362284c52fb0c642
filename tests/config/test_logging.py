"""Every process logs at LOG_LEVEL: a worker shows the engine's INFO lines when asked to (one JSON
object a line, production mode)."""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from booking.bookings import booking_create
from config.celery import app
from orchestrator.commands import queues_all
from orchestrator.outbox import outbox_relay
from tests.support.processes import WatchedProcess

ROOT = Path(__file__).resolve().parents[2]
WORKER = [
    "-m",
    "celery",
    "--app",
    "config",
    "worker",
    "--pool",
    "solo",
    "--without-mingle",
    "--without-gossip",
]


@pytest.mark.workers
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("level", ["INFO", "WARNING"])
def test_a_worker_logs_at_log_level(production_env: dict[str, str], trip_workflows: None, level: str) -> None:
    queues = ["--queues", ",".join(queues_all())]
    env = {**production_env, "LOG_LEVEL": level}
    worker = WatchedProcess([sys.executable, *WORKER, *queues], env=env, cwd=ROOT).start()
    try:
        booking = booking_create(
            customer_name="Ada",
            customer_email="a@example.com",
            itinerary={},
            amount=Decimal(1),
            currency="EUR",
        )
        outbox_relay(older_than=0)  # hand the booking's first command to the worker
        # Logged at every level: a reply for no process becomes a dead letter.
        app.send_task("orchestrator.event", args=({"not": "a reply"},), queue=settings.ORCHESTRATOR_QUEUE)
        worker.wait_for_line(r'"level": "WARNING".*dead letter from orchestrator\.event', timeout=60)
        if level == "INFO":
            # The engine's INFO lines, tagged with the process they are about.
            pattern = r'"level": "INFO".*' + re.escape(f'"process_id": "{booking.process_id}"')
            worker.wait_for_line(pattern, timeout=60)
        else:
            assert '"level": "INFO"' not in worker.output
    finally:
        worker.interrupt()
