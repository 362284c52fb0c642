"""The whole saga on real workers, under heavy faults: every booking ends, and the money adds up."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db.models import Count

from booking.demo import demo_workflows_load
from booking.models import Booking, Charge, Notification, Reservation
from booking.services.registry import service_names
from orchestrator.commands import queues_all
from tests.support.workers import BeatProcess, WorkerProcess, stop_all

ROOT = Path(__file__).resolve().parents[2]
FAULTS = [arg for service in service_names() for arg in ("--faults", f"{service}=technical:0.2,business:0.1")]


def simulate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "manage.py", "simulate", *args, *FAULTS, "--seed", "7", "--timeout", "180"]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def assert_no_record_duplicated() -> None:
    per_booking = Charge.objects.values("booking_reference").annotate(n=Count("id")).filter(n__gt=1)
    assert not per_booking.exists(), f"charges: {list(per_booking)}"
    per_service = Reservation.objects.values("service", "booking_reference").annotate(n=Count("id"))
    assert not per_service.filter(n__gt=1).exists(), f"reservations: {list(per_service.filter(n__gt=1))}"
    per_template = Notification.objects.values("booking_reference", "template").annotate(n=Count("id"))
    assert not per_template.filter(n__gt=1).exists()


@pytest.fixture
def production_cluster(production_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """One worker process per queue and a beat, like the production layout (deploy/supervisord.conf)."""
    demo_workflows_load()
    processes = [
        WorkerProcess(env=production_env, python=sys.executable, cwd=ROOT, queues=(queue,), name=queue)
        for queue in queues_all()
    ]
    processes.append(BeatProcess(env=production_env, python=sys.executable, cwd=ROOT))
    for process in processes:
        process.start()
    try:
        yield production_env
    finally:
        stop_all(processes)


@pytest.mark.workers
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_200_bookings_on_worker_processes_all_end_with_the_money_right(
    production_cluster: dict[str, str],
) -> None:
    result = simulate(production_cluster, "--bookings", "200", "--rate", "50")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "money check: ok" in result.stdout
    counts = dict(Booking.objects.values_list("process__status").annotate(n=Count("id")))
    assert sum(counts.values()) == 200
    assert set(counts) <= {"completed", "compensated"}
    assert counts.get("compensated", 0) > 20  # 10% business failures on four services did happen
    assert Charge.objects.filter(status="declined").exists()
    assert_no_record_duplicated()


@pytest.mark.slow
def test_bookings_in_embedded_mode_all_end_with_the_money_right(embedded_env: dict[str, str]) -> None:
    for command in (["migrate", "--noinput", "-v0"], ["load_demo"]):
        prepared = subprocess.run(
            [sys.executable, "manage.py", *command],
            env=embedded_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert prepared.returncode == 0, prepared.stderr
    result = simulate(embedded_env, "--bookings", "60", "--rate", "20")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "money check: ok" in result.stdout
    assert re.search(r"^total\s+60$", result.stdout, re.MULTILINE)
    assert "\r" not in result.stderr  # no progress bar written into a log
