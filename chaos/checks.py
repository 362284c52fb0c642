"""What a scenario must leave behind: every booking ended (or waiting for an operator, with the
reason), none lost, none charged twice, the money right, the history replaying to the snapshot."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

from booking.ledger import money_problems
from booking.models import Booking
from booking.simulation import patiently
from chaos.load import Load
from orchestrator.models import ProcessInstance
from orchestrator.selectors import replays_to_snapshot, state_of
from orchestrator.status import ProcessStatus

WAITING_AT_MOST = 0.02  # of a scenario's bookings waiting for an operator, before it fails


@dataclass
class Verdict:
    scenario: str
    started: int
    statuses: Counter[str]
    lost: int
    stuck: int
    money: list[str]
    double_charges: int
    replay_mismatches: list[str]
    drain_seconds: float
    unexpected_exits: list[str]
    not_running: list[str]
    http: Counter[str]
    waiting: list[str] = field(default_factory=list)  # why each one waits for an operator

    @property
    def server_errors(self) -> int:
        # 503 is the promised answer while the database is away; anything else 5xx is a failure.
        return sum(n for status, n in self.http.items() if status.startswith("5") and status != "503")

    @property
    def too_many_waiting(self) -> bool:
        # A few may run out of retries under heavy faults; many mean the stack is not recovering.
        return len(self.waiting) > max(2, self.started * WAITING_AT_MOST)

    @property
    def ok(self) -> bool:
        return not (
            self.too_many_waiting
            or self.not_running
            or self.lost
            or self.stuck
            or self.money
            or self.double_charges
            or self.replay_mismatches
            or self.unexpected_exits
            or self.server_errors
        )

    def line(self) -> str:
        ended = sum(self.statuses[s] for s in ProcessStatus.terminal())
        outcome = ", ".join(f"{s} {self.statuses[s]}" for s in sorted(self.statuses))
        http = " ".join(f"{status}:{n}" for status, n in sorted(self.http.items())) or "none"
        return (
            f"{'PASS' if self.ok else 'FAIL'} {self.scenario:<18} started {self.started}, ended {ended} "
            f"({outcome}), waiting for an operator {len(self.waiting)}, stuck {self.stuck}, "
            f"lost {self.lost}, money {'ok' if not self.money else f'{len(self.money)} problem(s)'}, "
            f"double charges {self.double_charges}, replay "
            f"{'ok' if not self.replay_mismatches else f'{len(self.replay_mismatches)} mismatch(es)'}, "
            f"drained {self.drain_seconds:.1f} s after the fault, "
            f"unexpected exits {len(self.unexpected_exits)}, not running {len(self.not_running)}, "
            f"http {http}"
        )


def settled(status: str) -> bool:
    return ProcessStatus(status).is_terminal or ProcessStatus(status).waits_for_operator


def _statuses(booking_ids: list[str]) -> list[str | None]:
    return list(Booking.objects.filter(pk__in=booking_ids).values_list("process__status", flat=True))


def drain(load: Load, *, since: float, timeout: float) -> float:
    """Wait until the load is over and every booking's process has ended or waits for an operator;
    the seconds that took from `since` (the end of the fault)."""
    while time.monotonic() - since < timeout:
        running = load.running()
        ids = list(load.booking_ids)
        rows = patiently(partial(_statuses, ids), "draining")
        if not running and len(rows) == len(ids) and all(status and settled(status) for status in rows):
            break
        time.sleep(0.5)
    return time.monotonic() - since


def judge(
    scenario: str,
    booking_ids: list[str],
    *,
    drain_seconds: float,
    unexpected_exits: list[str],
    not_running: list[str],
    http: Counter[str],
) -> Verdict:
    bookings = list(Booking.objects.filter(pk__in=booking_ids).select_related("process__definition"))
    statuses: Counter[str] = Counter(b.process.status for b in bookings if b.process)
    problems = money_problems(bookings)
    waiting = []
    mismatches = []
    for booking in bookings:
        process = booking.process
        assert process is not None
        state = state_of(process)
        if process.status == ProcessStatus.WAITING:
            reasons = [
                f"{key}: {st.last_error or st.status.label}"
                for key, st in state.steps.items()
                if st.awaiting_operator or st.status.waits_for_operator_undo
            ]
            waiting.append(f"{booking.reference} waits for an operator ({'; '.join(reasons)})")
        if not replays_to_snapshot(process, state):
            mismatches.append(f"{booking.reference}: replaying its history does not give its snapshot")
    return Verdict(
        scenario=scenario,
        started=len(booking_ids),
        statuses=statuses,
        lost=len(set(booking_ids)) - len(bookings),
        stuck=sum(1 for b in bookings if b.process and not settled(b.process.status)),
        money=problems,
        double_charges=sum(1 for problem in problems if re.search(r": charged \d+ times", problem)),
        replay_mismatches=mismatches,
        drain_seconds=drain_seconds,
        unexpected_exits=unexpected_exits,
        not_running=not_running,
        http=http,
        waiting=waiting,
    )


def every_process_replays() -> list[str]:
    """The whole database's processes, not only a scenario's: histories replay to snapshots."""
    mismatches = []
    for process in ProcessInstance.objects.select_related("definition").iterator(chunk_size=200):
        if not replays_to_snapshot(process, state_of(process)):
            mismatches.append(str(process.pk))
    return mismatches
