"""Counters and histograms recorded where things happen (orchestrator.scrape reads the database).

With PROMETHEUS_MULTIPROC_DIR set before Python starts (production: bin/run, deploy/), every
process (web, each worker, beat) writes its values to files of its own in that directory, and a
scrape sums them (`orchestrator.scrape.metrics_registry`); without it (embedded mode, tests) they
live in this process's default registry.

A transition's numbers are gathered in a `Tally` while it is decided and recorded once its
transaction commits: a batch rolled back and handled again one reply at a time counts once.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from celery.signals import worker_process_shutdown
from prometheus_client import Counter, Histogram

from orchestrator.commands import UnknownCommand, command_get
from orchestrator.engine.types import COMPENSATION, Definition, Event, EventType, State
from orchestrator.status import StepStatus

PROCESSES_STARTED = Counter("orchestrator_processes_started", "Processes started.", ["workflow"])
PROCESSES_ENDED = Counter(
    "orchestrator_processes_ended", "Processes ended, by final status.", ["workflow", "outcome"]
)
STEP_ATTEMPTS = Counter(
    "orchestrator_step_attempts",
    "Commands sent to services (actions and compensations, retries included).",
    ["service", "command"],
)
STEP_SUCCESSES = Counter(
    "orchestrator_step_successes", "Success replies from services.", ["service", "command"]
)
STEP_TECHNICAL_FAILURES = Counter(
    "orchestrator_step_technical_failures",
    "Technical failure replies from services (retried while the budget lasts).",
    ["service", "command"],
)
STEP_BUSINESS_FAILURES = Counter(
    "orchestrator_step_business_failures",
    "Business failure replies from services (a final no: declined, sold out).",
    ["service", "command"],
)
STEP_TIMEOUTS = Counter(
    "orchestrator_step_timeouts",
    "Attempts that got no answer within their step's timeout.",
    ["service", "command"],
)
DEAD_LETTERS = Counter("orchestrator_dead_letters", "Messages kept as dead letters.")
STEP_LATENCY = Histogram(
    "orchestrator_step_latency_seconds",
    "From the command decided to its reply handled (current attempts only).",
    ["command"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
PROCESS_DURATION = Histogram(
    "orchestrator_process_duration_seconds",
    "From a process's start to its end, by final status.",
    ["workflow", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
)
EVENT_HANDLING = Histogram(
    "orchestrator_event_handling_seconds",
    "Time the orchestrator spends on one reply (a batch's time shared among its replies).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)


def _service(command: str) -> str:
    try:
        return command_get(command).queue
    except UnknownCommand:
        return ""


@dataclass
class Tally:
    """What one process's transition did, in plain numbers, recorded after commit (`tallies_record`)."""

    workflow: str
    started: bool = False
    sent: list[str] = field(default_factory=list)
    replies: list[tuple[str, Any, float | None]] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)
    outcome: str = ""
    duration: float | None = None

    def event(self, definition: Definition, before: State, event: Event, commands: Sequence[Any]) -> None:
        """Note `event`, folded from the state `before` it, and the commands it decided.
        Reads only that state: no query, no clock."""
        self.sent.extend(command.name for command in commands)
        kind = event.type
        if kind == EventType.PROCESS_STARTED:
            self.started = before.seq == 0
            return
        if event.step is None or event.step not in before.steps:
            return
        spec = definition.step(event.step)
        step = before.steps[event.step]
        if spec.wait is not None:
            return  # a wait step sends no command: no service's figures
        if kind in EventType.REPLIES:
            compensation = kind.startswith(COMPENSATION)
            name = spec.compensation if compensation else spec.command
            current = event.attempt == (step.comp_attempt if compensation else step.attempt)
            latency = None
            if current and step.deadline_at is not None:
                sent_at = step.deadline_at.timestamp() - spec.timeout
                latency = max(event.at.timestamp() - sent_at, 0.0)
            if kind.endswith("succeeded"):
                result = STEP_SUCCESSES
            elif event.payload.get("business"):
                result = STEP_BUSINESS_FAILURES
            else:
                result = STEP_TECHNICAL_FAILURES
            self.replies.append((name or "", result, latency))
        elif kind in (EventType.STEP_TIMED_OUT, EventType.COMPENSATION_TIMED_OUT):
            if kind == EventType.STEP_TIMED_OUT:
                applies = step.status == StepStatus.RUNNING and event.attempt == step.attempt
                name = spec.command
            else:
                applies = step.status == StepStatus.COMPENSATING and event.attempt == step.comp_attempt
                name = spec.compensation or ""
            if applies:
                self.timeouts.append(name)

    def end(self, state: State) -> None:
        """The transition ended the process: its commands never go out."""
        self.sent.clear()
        self.outcome = str(state.status.value)
        if state.started_at is not None and state.ended_at is not None:
            self.duration = (state.ended_at - state.started_at).total_seconds()


def tallies_record(tallies: Sequence[Tally]) -> None:
    for tally in tallies:
        if tally.started:
            PROCESSES_STARTED.labels(tally.workflow).inc()
        for name in tally.sent:
            STEP_ATTEMPTS.labels(_service(name), name).inc()
        for name, counter, latency in tally.replies:
            counter.labels(_service(name), name).inc()
            if latency is not None:
                STEP_LATENCY.labels(name).observe(latency)
        for name in tally.timeouts:
            STEP_TIMEOUTS.labels(_service(name), name).inc()
        if tally.outcome:
            PROCESSES_ENDED.labels(tally.workflow, tally.outcome).inc()
            if tally.duration is not None:
                PROCESS_DURATION.labels(tally.workflow, tally.outcome).observe(tally.duration)


def replies_handled(count: int, seconds: float) -> None:
    if count:
        share = seconds / count
        for _ in range(count):
            EVENT_HANDLING.observe(share)


def dead_letter_kept() -> None:
    DEAD_LETTERS.inc()


def multiprocess_dir() -> str:
    """The directory of the multiprocess mode, or "" (the environment variable prometheus_client
    read when it was imported)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def _mark_dead(pid: int | None = None) -> None:
    """Drop this process's files of live gauges. Counters and histograms stay: what a process that
    ended counted stays counted."""
    directory = multiprocess_dir()
    if directory and os.path.isdir(directory):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), directory)


# Every process marks itself dead on its way out (a solo worker, the web, beat); prefork children,
# which leave with os._exit, through Celery's worker_process_shutdown.
atexit.register(_mark_dead)


@worker_process_shutdown.connect
def _worker_child_exits(pid: int | None = None, **kwargs: Any) -> None:
    _mark_dead(pid)
