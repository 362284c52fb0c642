"""The figures of the dashboard's Metrics page, read from the history over a chosen range.

Every query is bounded by the range and starts from an index: processes by `created_at`
(`process_created`) and `ended_at` (`process_ended`), step replies by `created_at`
(`event_step_reply_created`, partial on the two reply types). A reply finds the command it
answers among its own process's outbox rows (the outbox's process index): the command's queue is
the service, its `created_at` the moment it was sent, so the latency is reply minus command.

Buckets are whole minutes (UTC), so throughput is per minute whatever the range.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncMinute
from django.utils import timezone

from orchestrator.engine.types import EventType
from orchestrator.models import HistoryEntry, Outbox, ProcessInstance
from orchestrator.selectors import status_counts
from orchestrator.status import ProcessStatus

RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
}
DEFAULT_RANGE = "1h"
STEP_REPLIES = (EventType.STEP_SUCCEEDED, EventType.STEP_FAILED)
QUANTILES = (0.5, 0.95, 0.99)
# Backlog samples, one per minute, taken while someone looks at the page (a day's worth at most).
_BACKLOG_KEY = "charts:backlog-samples"


class UnknownRange(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    def minutes(self) -> list[int]:
        """Epoch seconds of every minute bucket in the window, oldest first."""
        first = int(self.since.timestamp()) // 60 * 60
        return list(range(first, int(self.until.timestamp()) + 1, 60))


def window_for(range_key: str, *, now: datetime | None = None) -> Window:
    if range_key not in RANGES:
        raise UnknownRange(f"range must be one of {', '.join(RANGES)}")
    until = now or timezone.now()
    return Window(since=until - RANGES[range_key], until=until)


class _PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(f) WITHIN GROUP (ORDER BY x)`: exact, computed in the database."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, *, fraction: float) -> None:
        super().__init__(expression, output_field=DurationField())
        self.extra["fraction"] = float(fraction)


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _series(counts: dict[int, int], minutes: list[int]) -> list[int]:
    return [counts.get(minute, 0) for minute in minutes]


def _per_minute(queryset: Any, field: str) -> dict[int, int]:
    rows = queryset.annotate(minute=TruncMinute(field)).values("minute").annotate(n=Count("pk")).order_by()
    return {_epoch(row["minute"]): row["n"] for row in rows}


def throughput(window: Window) -> dict[str, dict[int, int]]:
    """Processes started and ended in each minute of the window."""
    started = ProcessInstance.objects.filter(created_at__gte=window.since, created_at__lt=window.until)
    ended = ProcessInstance.objects.filter(ended_at__gte=window.since, ended_at__lt=window.until)
    return {"started": _per_minute(started, "created_at"), "ended": _per_minute(ended, "ended_at")}


def step_replies(window: Window) -> Any:
    """Step replies (success or failure of an action) recorded in the window, each with the
    service (queue) of the command it answers and its latency since that command was sent."""
    command = Outbox.objects.annotate(
        command_step=KeyTextTransform("step", "body"),
        command_attempt=Cast(KeyTextTransform("attempt", "body"), IntegerField()),
        command_kind=KeyTextTransform("kind", "body"),
    ).filter(
        process_id=OuterRef("process_id"),
        command_step=OuterRef("step"),
        command_attempt=OuterRef("attempt"),
        command_kind="action",
    )
    return (
        HistoryEntry.objects.filter(
            type__in=STEP_REPLIES, created_at__gte=window.since, created_at__lt=window.until
        )
        .annotate(
            service=Subquery(command.values("queue")[:1]),
            sent_at=Subquery(command.values("created_at")[:1]),
        )
        .annotate(latency=ExpressionWrapper(F("created_at") - F("sent_at"), output_field=DurationField()))
    )


@dataclass(frozen=True)
class _ReplyFact:
    service: str
    step: str
    failed: bool
    minute: int
    latency_ms: float | None


def _reply_facts(window: Window) -> list[_ReplyFact]:
    """The step replies of the window matched with their commands in Python: SQLite (the
    embedded demo, small by nature), where Django mixes up the JSON paths' parameters of the
    subquery above."""
    replies = list(
        HistoryEntry.objects.filter(
            type__in=STEP_REPLIES, created_at__gte=window.since, created_at__lt=window.until
        ).values_list("process_id", "step", "attempt", "type", "created_at")
    )
    commands: dict[tuple[Any, Any, Any], tuple[str, datetime]] = {}
    rows = Outbox.objects.filter(process_id__in={reply[0] for reply in replies}).values_list(
        "process_id", "body", "queue", "created_at"
    )
    for process_id, body, queue, created_at in rows:
        if isinstance(body, dict) and body.get("kind") == "action":
            commands.setdefault((process_id, body.get("step"), body.get("attempt")), (queue, created_at))
    facts = []
    for process_id, step, attempt, type_, created_at in replies:
        queue, sent_at = commands.get((process_id, step, attempt), ("unknown", None))
        latency = (created_at - sent_at).total_seconds() * 1000 if sent_at else None
        minute = _epoch(created_at) // 60 * 60
        facts.append(_ReplyFact(queue, step, type_ == EventType.STEP_FAILED, minute, latency))
    return facts


def failures(window: Window) -> dict[str, dict[str, Any]]:
    """Per service: attempts and failures in each minute, and over the whole window."""
    if connection.vendor == "postgresql":
        rows = [
            (row["service"] or "unknown", _epoch(row["minute"]), row["failed"], row["attempts"])
            for row in step_replies(window)
            .annotate(minute=TruncMinute("created_at"))
            .values("service", "minute")
            .annotate(attempts=Count("pk"), failed=Count("pk", filter=Q(type=EventType.STEP_FAILED)))
            .order_by()
        ]
    else:
        counted: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for fact in _reply_facts(window):
            counted[fact.service, fact.minute][0] += fact.failed
            counted[fact.service, fact.minute][1] += 1
        rows = [(service, minute, f, a) for (service, minute), (f, a) in counted.items()]
    services: dict[str, dict[str, Any]] = defaultdict(lambda: {"attempts": 0, "failed": 0, "by_minute": {}})
    for name, minute, failed, attempts in rows:
        service = services[name]
        service["attempts"] += attempts
        service["failed"] += failed
        service["by_minute"][minute] = (failed, attempts)
    return dict(services)


def _quantile(sorted_values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks, as `percentile_cont` does."""
    position = (len(sorted_values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latencies(window: Window) -> dict[str, dict[str, Any]]:
    """Per step: how many replies, and p50/p95/p99 of their latency in milliseconds."""
    result: dict[str, dict[str, Any]] = {}
    if connection.vendor == "postgresql":
        replies = step_replies(window).filter(sent_at__isnull=False)
        aggregates = {f"p{round(q * 100)}": _PercentileCont("latency", fraction=q) for q in QUANTILES}
        rows = replies.values("step").annotate(n=Count("pk"), **aggregates).order_by("step")
        for row in rows:
            result[row["step"]] = {
                "n": row["n"],
                **{
                    f"p{round(q * 100)}": round(row[f"p{round(q * 100)}"].total_seconds() * 1000, 1)
                    for q in QUANTILES
                },
            }
        return result
    values: dict[str, list[float]] = defaultdict(list)
    for fact in _reply_facts(window):
        if fact.latency_ms is not None:
            values[fact.step].append(fact.latency_ms)
    for step in sorted(values):
        ordered = sorted(values[step])
        result[step] = {
            "n": len(ordered),
            **{f"p{round(q * 100)}": round(_quantile(ordered, q), 1) for q in QUANTILES},
        }
    return result


def backlog_now() -> dict[str, int]:
    """Commands and events decided but not yet handed to the broker; processes waiting for an operator."""
    unpublished = Outbox.objects.filter(published_at__isnull=True, discarded_at__isnull=True).count()
    waiting = status_counts()[ProcessStatus.WAITING.value]
    return {"outbox_unpublished": unpublished, "waiting_for_operator": waiting}


def _backlog_sampled(now: datetime, current: dict[str, int]) -> dict[int, dict[str, int]]:
    """Keep one backlog sample per minute in the cache (while the page is watched), a day of them."""
    samples: dict[int, dict[str, int]] = cache.get(_BACKLOG_KEY) or {}
    minute = _epoch(now) // 60 * 60
    samples[minute] = current
    oldest = minute - int(RANGES["24h"].total_seconds())
    samples = {at: sample for at, sample in samples.items() if at >= oldest}
    cache.set(_BACKLOG_KEY, samples, timeout=int(RANGES["24h"].total_seconds()))
    return samples


def _rate(failed_attempts: tuple[int, int] | None) -> float | None:
    if not failed_attempts:
        return None
    failed, attempts = failed_attempts
    return round(failed / attempts, 4) if attempts else None


def charts_data(range_key: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of the page for `range_key` (one of RANGES), as plain JSON.

    Series are aligned on `minutes` (epoch seconds); a minute without a backlog sample is null.
    """
    window = window_for(range_key, now=now)
    minutes = window.minutes()
    flows = throughput(window)
    services = failures(window)
    current = backlog_now()
    samples = _backlog_sampled(window.until, current)
    return {
        "range": range_key,
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "minutes": minutes,
        "throughput": {
            "started": _series(flows["started"], minutes),
            "ended": _series(flows["ended"], minutes),
            "started_total": sum(flows["started"].values()),
            "ended_total": sum(flows["ended"].values()),
        },
        "failure_rate": {
            name: {
                "attempts": figures["attempts"],
                "failed": figures["failed"],
                "rate": round(figures["failed"] / figures["attempts"], 4) if figures["attempts"] else 0.0,
                # Failed / attempts in each minute; null where there was no attempt.
                "series": [_rate(figures["by_minute"].get(minute)) for minute in minutes],
            }
            for name, figures in sorted(services.items())
        },
        "latency_ms": latencies(window),
        "backlog": {
            "now": current,
            "outbox_unpublished": [samples.get(m, {}).get("outbox_unpublished") for m in minutes],
            "waiting_for_operator": [samples.get(m, {}).get("waiting_for_operator") for m in minutes],
        },
    }
