"""Prometheus metrics, read from the database at each scrape: the numbers to alert on.

Processes waiting for an operator, timers overdue (nothing is firing them: is beat running?),
outbox rows not published (is the broker reachable?) and dead letters all mean someone should look.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orchestrator.models import DeadLetter, Outbox, ProcessInstance
from orchestrator.selectors import process_counts
from orchestrator.status import ProcessStatus

OVERDUE_AFTER = timedelta(seconds=30)


class EngineCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        by_status = GaugeMetricFamily(
            "orchestrator_processes",
            "Process instances by workflow and status.",
            labels=["workflow", "status"],
        )
        # From the counts the database keeps, not a count of the whole table at every scrape.
        counts = process_counts()
        for (workflow, status), n in sorted(counts.items()):
            by_status.add_metric([workflow, status], n)
        yield by_status
        yield GaugeMetricFamily(
            "orchestrator_processes_waiting_for_operator",
            "Processes that only an operator can move on.",
            value=sum(n for (_, status), n in counts.items() if ProcessStatus(status).waits_for_operator),
        )
        yield GaugeMetricFamily(
            "orchestrator_timers_overdue",
            f"Processes whose next timer is more than {OVERDUE_AFTER.seconds} s late (is beat running?).",
            value=ProcessInstance.objects.filter(wake_at__lt=now - OVERDUE_AFTER).count(),
        )
        pending = Outbox.objects.filter(published_at__isnull=True, discarded_at__isnull=True)
        oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
        yield GaugeMetricFamily(
            "orchestrator_outbox_unpublished",
            "Commands decided but not yet handed to the broker.",
            value=pending.count(),
        )
        yield GaugeMetricFamily(
            "orchestrator_outbox_oldest_unpublished_seconds",
            "Age of the oldest unpublished command (is the broker reachable?).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "orchestrator_dead_letters_last_hour",
            "Messages kept because they could not be taken, in the last hour.",
            value=DeadLetter.objects.filter(received_at__gte=now - timedelta(hours=1)).count(),
        )
