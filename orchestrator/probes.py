"""Worker probes: is some worker consuming each queue, and how fast does it answer?"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from orchestrator.models import WorkerProbe

PROBE_TASK = "ops.probe"


@dataclass(frozen=True)
class ProbeResult:
    queue: str
    worker: str
    latency: timedelta | None  # None: no worker answered in time


def probe_send(*, queue: str) -> WorkerProbe:
    """Record a probe and publish it to `queue` once the record is committed (the task is sent by
    name: whichever worker consumes the queue runs orchestrator.tasks.probe)."""
    from config.celery import app

    with transaction.atomic():
        record = WorkerProbe.objects.create(queue=queue, sent_at=timezone.now())
        transaction.on_commit(partial(app.send_task, PROBE_TASK, args=(str(record.pk),), queue=queue))
    return record


def probe_answer(*, probe_id: str, worker: str) -> bool:
    """Mark a probe answered; returns False for an unknown or already answered probe."""
    with transaction.atomic():
        updated = WorkerProbe.objects.filter(pk=probe_id, answered_at__isnull=True).update(
            answered_at=timezone.now(), worker=worker
        )
    return updated == 1


def probes_await(*, probes: list[WorkerProbe], timeout: float, poll: float = 0.05) -> list[ProbeResult]:
    """Wait until every probe is answered or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    pending = {p.pk for p in probes}
    while pending and time.monotonic() < deadline:
        answered = WorkerProbe.objects.filter(pk__in=pending, answered_at__isnull=False)
        pending -= set(answered.values_list("pk", flat=True))
        if pending:
            time.sleep(poll)
    results = []
    for record in WorkerProbe.objects.filter(pk__in=[p.pk for p in probes]).order_by("queue"):
        latency = record.answered_at - record.sent_at if record.answered_at else None
        results.append(ProbeResult(queue=record.queue, worker=record.worker, latency=latency))
    return results
