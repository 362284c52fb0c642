"""Reads the rest of the project asks of the engine: process lists with typed filters, pages,
a process's definition, state and history, and whether a late command may still act.

The dashboard and the API both list processes through `processes_matching(ProcessFilters)`;
their forms and schemas only turn a query string into those filters.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum

from orchestrator.commands import searchable_key_labels
from orchestrator.definitions import definition_for_run
from orchestrator.engine.codec import state_from_json, state_to_json
from orchestrator.engine.decide import replay
from orchestrator.engine.summary import retry_target
from orchestrator.engine.types import Definition, Event, State
from orchestrator.keys import processes_keyed
from orchestrator.models import HistoryEntry, ProcessCount, ProcessInstance, WorkflowDefinition
from orchestrator.status import ProcessStatus, StepStatus

PAGE_SIZE = 50


# --- lists -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessFilters:
    """Which processes a list shows; every field narrows it, the defaults keep all."""

    status: ProcessStatus | None = None
    workflow: str = ""
    version: int | None = None
    step: str = ""  # a step being worked on or waiting for someone
    created_after: datetime | None = None
    created_before: datetime | None = None
    failing: bool = False  # failing now: retrying, in doubt or waiting for an operator
    had_retries: bool = False  # some step needed more than one attempt (ended processes too)
    in_doubt: bool = False
    waiting: bool = False  # waits for an operator
    q: str = ""  # one search box: see `search_condition`


def processes_matching(
    filters: ProcessFilters, queryset: QuerySet[ProcessInstance] | None = None
) -> QuerySet[ProcessInstance]:
    """The processes (of `queryset`, all by default) that match `filters`."""
    if queryset is None:
        queryset = ProcessInstance.objects.select_related("definition")
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.workflow:
        queryset = queryset.filter(workflow_name=filters.workflow)
    if filters.version:
        queryset = queryset.filter(definition__version=filters.version)
    if filters.step:
        queryset = queryset.filter(active_steps__contains=f",{filters.step},")
    if filters.created_after:
        queryset = queryset.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        queryset = queryset.filter(created_at__lt=filters.created_before)
    if filters.failing:
        queryset = queryset.filter(pk__in=_failing_ids())
    if filters.had_retries:
        queryset = queryset.filter(max_attempt__gt=1)
    if filters.in_doubt:
        queryset = queryset.filter(in_doubt=True)
    if filters.waiting:
        queryset = queryset.filter(status=ProcessStatus.WAITING)
    if q := filters.q.strip():
        queryset = queryset.filter(search_condition(q))
    return queryset


# The trouble the list shows, each a condition an index serves on its own (decision 44): a step of
# a running process backing off after failures, a step in doubt in a process not ended, a process
# waiting for an operator.
RETRYING = Q(retrying_attempt__gt=0)
IN_DOUBT = Q(in_doubt=True, ended_at__isnull=True)
WAITING = Q(status=ProcessStatus.WAITING)
OPEN_STATUSES = [status for status in ProcessStatus if not status.is_terminal]


def _ids(*conditions: Q, oldest: int | None = None) -> QuerySet[Any]:
    """The ids of the processes meeting any of `conditions` (only the `oldest` of each, when
    given): a UNION of one index scan each, where one OR would make PostgreSQL walk the table."""
    found = []
    for condition in conditions:
        ids = ProcessInstance.objects.filter(condition).values("pk")
        # Each branch keeps its own few: thousands of ids would make PostgreSQL join them to the
        # table by a full scan (400 ms at a million processes) instead of by primary key.
        # (SQLite, the embedded demo's small database, takes no LIMIT inside a UNION.)
        few = oldest and connection.features.supports_slicing_ordering_in_compound
        found.append(ids.order_by("created_at")[:oldest] if few else ids.order_by())
    return found[0].union(*found[1:])


def _failing_ids() -> QuerySet[Any]:
    return _ids(RETRYING, IN_DOUBT, WAITING)


def trouble_counts(counts: dict[str, int] | None = None) -> dict[str, int]:
    """How many processes are retrying after failures, in doubt, waiting for an operator.

    Waiting is a status (the database keeps its count, decision 39: pass `status_counts()` when
    at hand); the others are counted in one query over the few rows of their partial indexes,
    whatever the size of the table (decision 44).
    """
    found = ProcessInstance.objects.filter(RETRYING | IN_DOUBT).aggregate(
        retrying=Count("pk", filter=RETRYING), in_doubt=Count("pk", filter=IN_DOUBT)
    )
    waiting = (counts or status_counts())[ProcessStatus.WAITING]
    return {"retrying": found["retrying"], "in_doubt": found["in_doubt"], "waiting": waiting}


ATTENTION_ATTEMPT = 3  # a step retrying at this attempt or later needs a look
ATTENTION_SIZE = 20


def attention_processes(*, now: datetime, size: int = ATTENTION_SIZE) -> list[ProcessInstance]:
    """What needs an operator's attention, oldest first: waiting for an operator, in doubt,
    retrying at attempt ATTENTION_ATTEMPT or later, or not ended past its workflow's deadline."""
    conditions = [WAITING, IN_DOUBT, Q(retrying_attempt__gte=ATTENTION_ATTEMPT)]
    deadlines = WorkflowDefinition.objects.filter(deadline__isnull=False).values_list("pk", "deadline")
    for definition_id, deadline in deadlines:
        if deadline is not None:
            conditions.append(
                # ended_at IS NULL: what the partial index of open processes by definition holds.
                Q(
                    definition_id=definition_id,
                    ended_at__isnull=True,
                    status__in=OPEN_STATUSES,
                    created_at__lt=now - deadline,
                )
            )
    rows = ProcessInstance.objects.select_related("definition").filter(pk__in=_ids(*conditions, oldest=size))
    return list(rows.order_by("created_at", "id")[:size])


def past_deadline(process: ProcessInstance, *, now: datetime) -> bool:
    deadline = process.definition.deadline
    return deadline is not None and not process.status_now.is_terminal and process.created_at < now - deadline


# --- trouble -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trouble:
    """Why a process on the list is not going well, read from its snapshot."""

    kind: str  # "backoff" (waits for its retry) or "doubt" (timed out: the service may have acted)
    step: str
    attempt: int = 0  # of the current retry budget
    max_attempts: int = 0
    retry_at: datetime | None = None
    error: str = ""


def process_troubles(rows: list[ProcessInstance]) -> dict[str, Trouble]:
    """By process id, the trouble of those `rows` that retry or are in doubt while they move on
    their own (one waiting for an operator, or paused, says so by its status, which stays its
    badge): the list defers the snapshots, so only theirs are read, in one query."""
    wanted = {
        str(row.pk): row
        for row in rows
        if row.status_now.moves_on_its_own and (row.retrying_attempt or row.in_doubt)
    }
    if not wanted:
        return {}
    found = {}
    for pk, snapshot in ProcessInstance.objects.filter(pk__in=wanted).values_list("pk", "state"):
        row = wanted[str(pk)]
        trouble = trouble_in(definition_of(row), state_from_json(snapshot))
        if trouble is not None:
            found[str(pk)] = trouble
    return found


def trouble_in(definition: Definition, state: State) -> Trouble | None:
    """A step in doubt first (the service may have acted), else the step furthest in its retries."""
    for spec in definition.steps:
        st = state.steps[spec.key]
        if st.in_doubt and st.status not in (StepStatus.SUCCEEDED, StepStatus.COMPENSATED):
            return Trouble(
                "doubt",
                spec.key,
                st.attempt - st.budget_from,
                spec.retry.max_attempts,
                error=st.last_error,
            )
    retrying = [
        (state.steps[spec.key], spec)
        for spec in definition.steps
        if state.steps[spec.key].status == StepStatus.RETRYING
    ]
    if not retrying:
        return None
    st, spec = max(retrying, key=lambda pair: pair[0].attempt - pair[0].budget_from)
    return Trouble(
        "backoff", spec.key, st.attempt - st.budget_from, spec.retry.max_attempts, st.retry_at, st.last_error
    )


@dataclass(frozen=True)
class Attention:
    """A process in the attention panel: why it is there, and its one obvious next action."""

    process: ProcessInstance
    reasons: list[str]
    retry_step: str | None  # "Retry now" retries this step; None: "Look"


def attention_items(*, now: datetime) -> list[Attention]:
    items = []
    for process in attention_processes(now=now):
        definition = definition_of(process)
        state = state_from_json(process.state)
        reasons = []
        retry_step = None
        if process.status_now.waits_for_operator:
            reasons.append("waiting for an operator")
            retry_step = retry_target(definition, state)
        trouble = trouble_in(definition, state)
        if trouble is not None and trouble.kind == "doubt":
            reasons.append(f"{trouble.step} in doubt")
        elif trouble is not None and process.retrying_attempt >= ATTENTION_ATTEMPT:
            reasons.append(f"{trouble.step} retrying: attempt {trouble.attempt} of {trouble.max_attempts}")
        if past_deadline(process, now=now):
            reasons.append(f"past its deadline: {process.definition.deadline_reason or 'too long'}")
        items.append(Attention(process, reasons, retry_step))
    return items


# What the search box also looks in, registered by the domains that know their data (say, a
# customer's e-mail): the engine itself knows process ids, business keys and the keys its
# steps' outputs carry (orchestrator.keys).
# Each source gives the ids of the processes it finds for the text, as a query of one column.
SearchSource = Callable[[str], Iterable[QuerySet[Any]]]
_SEARCHES: list[SearchSource] = []
_SEARCH_HINTS: list[str] = []


def search_register(source: SearchSource, *, finds: Iterable[str] = ()) -> None:
    """Add what the search box looks in: `source(text)` gives queries of matching process ids;
    `finds` says by what, in words ("reference", "e-mail"), for the box's hint."""
    if source not in _SEARCHES:
        _SEARCHES.append(source)
        _SEARCH_HINTS.extend(hint for hint in finds if hint not in _SEARCH_HINTS)


def search_hints() -> list[str]:
    """Everything the search box finds a process by, in words: what the domains registered, the
    business keys the services declare, the process id."""
    return list(dict.fromkeys([*_SEARCH_HINTS, *searchable_key_labels(), "process id"]))


def search_condition(q: str) -> Q:
    """One box for everything an operator may have at hand when a customer calls.

    Exact matches only (case aside), each an index lookup of its own: the processes are those
    whose id one of the lookups finds (a UNION), never a scan of the processes table, which an OR
    over the joined tables would be at a million processes.
    """
    found: list[QuerySet[Any]] = [
        ProcessInstance.objects.filter(business_key__iexact=q).values("pk"),
        processes_keyed(q),
    ]
    with contextlib.suppress(ValueError):
        found.append(ProcessInstance.objects.filter(pk=uuid.UUID(q)).values("pk"))
    for source in _SEARCHES:
        found += source(q)
    found = [query.order_by() for query in found]  # no model ordering inside the UNION
    return Q(pk__in=found[0].union(*found[1:]))


@dataclass(frozen=True)
class Page:
    rows: list[ProcessInstance]
    next_cursor: str | None


def process_page(queryset: QuerySet[ProcessInstance], *, cursor: str | None, size: int = PAGE_SIZE) -> Page:
    """Newest first, by keyset: a page is as fast on the millionth row as on the first."""
    queryset = queryset.order_by("-created_at", "-id")
    position = cursor_decode(cursor) if cursor else None
    if position is not None:
        created_at, pk = position
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, next_cursor=cursor_encode(rows[-1]) if more else None)


def cursor_encode(process: ProcessInstance) -> str:
    raw = f"{process.created_at.isoformat()}|{process.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def cursor_decode(cursor: str) -> tuple[datetime, str] | None:
    """A cursor from the URL; a damaged one restarts from the first page instead of failing."""
    try:
        created, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), str(uuid.UUID(pk))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def process_counts() -> dict[tuple[str, str], int]:
    """How many processes each (workflow, status) has, those with any.

    On PostgreSQL, the sum of the few rows its triggers keep (decision 39): constant time however
    many processes there are. Elsewhere (SQLite, the embedded demo) a GROUP BY over the table.
    """
    rows: Iterable[tuple[Any, ...]]
    if connection.vendor == "postgresql":
        rows = ProcessCount.objects.values_list("workflow_name", "status").annotate(total=Sum("n")).order_by()
    else:
        rows = (
            ProcessInstance.objects.values_list("workflow_name", "status")
            .annotate(total=Count("id"))
            .order_by()
        )
    return {(workflow, status): total for workflow, status, total in rows if total}


def status_counts() -> dict[str, int]:
    """How many processes are in each status, every status listed."""
    counts: Counter[str] = Counter()
    for (_, status), total in process_counts().items():
        counts[status] += total
    return {status.value: counts[status.value] for status in ProcessStatus}


def workflow_versions() -> list[WorkflowDefinition]:
    return list(WorkflowDefinition.objects.order_by("name", "-version"))


# --- one process -----------------------------------------------------------------------------


def definition_of(process: ProcessInstance) -> Definition:
    return definition_for_run(process.definition)


def state_of(process: ProcessInstance) -> State:
    return state_from_json(process.state)


def event_of(row: HistoryEntry) -> Event:
    return Event(
        type=row.type,
        at=row.created_at,
        message_id=row.message_id,
        step=row.step or None,
        attempt=row.attempt,
        payload=row.payload,
        actor=row.actor,
        reason=row.reason,
    )


def history_events(process: ProcessInstance, *, up_to: int | None = None) -> list[Event]:
    """The history in order, up to event `up_to` when given."""
    rows = HistoryEntry.objects.filter(process=process).order_by("seq")
    if up_to is not None:
        rows = rows.filter(seq__lte=up_to)
    return [event_of(row) for row in rows]


def state_as_json(state: State) -> dict[str, Any]:
    """A state as its snapshot is stored (for showing it whole)."""
    return state_to_json(state)


def replays_to_snapshot(process: ProcessInstance, snapshot: State) -> bool:
    """Whether the history up to the snapshot folds into the snapshot (late messages may append
    events between reading one and the other: only those the snapshot includes are replayed)."""
    return state_at(process, snapshot.seq) == snapshot


def state_at(process: ProcessInstance, seq: int) -> State:
    """The state as it was right after event `seq`, replayed from the history."""
    return replay(definition_of(process), str(process.pk), history_events(process, up_to=seq))
