"""seed_history: realistic trips in bulk, which the engine, the money check and the dashboard
take for their own."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, F, Max, Min, Sum

from booking.ledger import money_problems
from booking.models import Booking, Charge, Notification, Reservation
from booking.seeding.stamping import STATUS_SHARES, Stamper
from orchestrator.models import HistoryEntry, ProcessInstance
from orchestrator.selectors import replays_to_snapshot, state_of, status_counts
from orchestrator.status import ProcessStatus
from tests.support.people import READ_PERMISSIONS, user_with
from tests.support.services import service_missing

pytestmark = pytest.mark.usefixtures("trip_workflows")
SEEDED = 300


@pytest.fixture
def seeded(db: None) -> str:
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL", "seed_history writes with COPY (set DATABASE_URL=postgres://...)")
    out = StringIO()
    call_command("seed_history", processes=SEEDED, seed=7, batch=120, no_vacuum=True, stdout=out)
    return out.getvalue()


def test_it_writes_the_processes_their_bookings_and_histories(seeded: str) -> None:
    assert ProcessInstance.objects.count() == SEEDED
    assert Booking.objects.filter(process__isnull=False).count() == SEEDED
    assert not Booking.objects.exclude(reference=F("process__business_key")).exists()
    # Every process's history is numbered 1..seq, without a gap.
    per_process = HistoryEntry.objects.values("process").annotate(
        n=Count("id"), low=Min("seq"), high=Max("seq")
    )
    seqs = dict(ProcessInstance.objects.values_list("pk", "seq"))
    assert len(per_process) == SEEDED
    assert all(row["low"] == 1 and row["high"] == row["n"] == seqs[row["process"]] for row in per_process)
    events = HistoryEntry.objects.count()
    assert events == ProcessInstance.objects.aggregate(total=Sum("seq"))["total"]
    assert 6 <= events / SEEDED <= 14  # a realistic history: retries, timeouts, compensations
    assert f"Seeded {SEEDED} processes" in seeded and f"history {events}" in seeded


def test_every_kind_of_process_is_there(seeded: str) -> None:
    statuses = Counter(ProcessInstance.objects.values_list("status", flat=True))
    assert statuses[ProcessStatus.COMPLETED] > SEEDED / 2
    for status in (ProcessStatus.COMPENSATED, ProcessStatus.WAITING, ProcessStatus.RUNNING):
        assert statuses[status] > 0, status
    assert set(statuses) <= set(STATUS_SHARES)
    assert status_counts() == {status.value: statuses[status.value] for status in ProcessStatus}
    # What the services did is there too: the ledger of every seeded process.
    assert Charge.objects.count() >= statuses[ProcessStatus.COMPLETED]
    for service in ("flights", "hotels"):
        assert Reservation.objects.filter(service=service).count() >= statuses[ProcessStatus.COMPLETED], (
            service
        )
    assert Notification.objects.count() >= statuses[ProcessStatus.COMPLETED]


def test_the_engine_takes_the_seeded_processes_for_its_own(seeded: str) -> None:
    """Each snapshot is the fold of its history under today's rules, and the money adds up."""
    for process in ProcessInstance.objects.select_related("definition"):
        assert replays_to_snapshot(process, state_of(process)), process.pk
    ended = Booking.objects.filter(process__ended_at__isnull=False)
    assert ended.exists() and money_problems(ended) == []


def test_the_dashboard_shows_the_seeded_processes(seeded: str) -> None:
    viewer = user_with("seed-viewer", permissions=READ_PERMISSIONS)
    listed = viewer.get("/")
    assert listed.status_code == 200
    newest = ProcessInstance.objects.order_by("-created_at").first()
    assert newest is not None and newest.business_key in listed.content.decode()
    booking = Booking.objects.filter(process__context__has_key="flight").select_related("process").first()
    assert booking is not None and booking.process is not None
    pnr = booking.process.context["flight"]["pnr"]
    # As a customer reads them out on the phone, in any case.
    for quoted in (pnr.lower(), booking.reference.lower(), booking.customer_email.upper()):
        found = viewer.get("/", {"q": quoted}).content.decode()
        assert re.findall(r'id="row-([0-9a-f-]{36})"', found) == [str(booking.process_id)], quoted
    page = viewer.get(f"/processes/{booking.process_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert booking.reference in html and pnr in html and booking.customer_email in html


def test_the_same_seed_draws_the_same_processes(seeded: str) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    first, second = (Stamper(random.Random(11), now=now, days=7).batch(40) for _ in range(2))
    assert first.lines["bookings"] == second.lines["bookings"]
    assert first.statuses == second.statuses


def test_without_postgres_it_says_so(db: None) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("the refusal is for other databases")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("seed_history", processes=1, stdout=StringIO())
