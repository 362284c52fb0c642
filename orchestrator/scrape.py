"""Prometheus metrics, read from the database at each scrape: the numbers to alert on.

Processes waiting for an operator, timers overdue (nothing is firing them: is beat running?),
outbox rows not published (is the broker reachable?) and dead letters all mean someone should look.
Each is read through an index or a kept count: a scrape costs the same at a million processes.

Beside them, the counters and histograms of orchestrator.counters, summed over every process
when PROMETHEUS_MULTIPROC_DIR is set (`metrics_registry`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Min
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Metric
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from orchestrator import broker
from orchestrator.counters import multiprocess_dir
from orchestrator.models import DeadLetter, Outbox, ProcessInstance
from orchestrator.selectors import process_counts
from orchestrator.status import ProcessStatus

logger = logging.getLogger(__name__)

OVERDUE_AFTER = timedelta(seconds=30)
# A broker that does not answer within this costs the scrape no more, and its depths are left out.
BROKER_TIMEOUT = 1.0


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
        # Both through the partial index on wake_at (process_wake_at).
        yield GaugeMetricFamily(
            "orchestrator_timers_due",
            "Processes with a timer due now (fired at the next tick).",
            value=ProcessInstance.objects.filter(wake_at__lte=now).count(),
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
        depth = GaugeMetricFamily(
            "orchestrator_queue_depth",
            "Messages waiting in each queue of the broker (left out when the broker does not answer).",
            labels=["queue"],
        )
        for queue, n in queue_depths().items():
            depth.add_metric([queue], n)
        yield depth


def queue_depths() -> dict[str, int]:
    """The length of each queue in queues_all(), as the broker tells it; {} when it does
    not answer (or runs in this process: embedded mode)."""
    try:
        return {queue: depth for queue, (depth, _) in broker.queue_depths(timeout=BROKER_TIMEOUT).items()}
    except Exception:
        logger.warning("queue depths unknown: the broker does not answer", exc_info=True)
        return {}


class _DefaultRegistry(Collector):
    """This process's default registry (the counters, the process and platform collectors)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


_single_process = CollectorRegistry(auto_describe=False)
_single_process.register(EngineCollector())
_single_process.register(_DefaultRegistry())


def metrics_registry() -> CollectorRegistry:
    """What a scrape reads: the database's gauges, and the counters of every process writing to
    PROMETHEUS_MULTIPROC_DIR (a registry made for each scrape, as prometheus_client asks), or of
    this process alone without it."""
    directory = multiprocess_dir()
    if not directory:
        return _single_process
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=directory)
    registry.register(EngineCollector())
    return registry
