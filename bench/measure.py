"""What a round costs: CPU time and memory by process from /proc, latency percentiles."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # after the command name, which may hold spaces


def cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    """User + system CPU of a process; with its children that exited and were waited for (a
    PostgreSQL server's connections)."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of /proc/PID/stat (11-14 after the name).
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """A server and its live children, plus the children it already reaped."""
    return cpu_seconds(pid, with_reaped_children=True) + sum(cpu_seconds(c) for c in children_of(pid))


@dataclass(frozen=True)
class CpuSnapshot:
    seconds: dict[str, float]  # by role: orchestrator, services, postgres, redis, ...

    def minus(self, earlier: CpuSnapshot) -> dict[str, float]:
        return {role: self.seconds[role] - earlier.seconds.get(role, 0.0) for role in self.seconds}


def cpu_snapshot(roles: Mapping[str, Sequence[int]], servers: Mapping[str, int]) -> CpuSnapshot:
    """CPU seconds so far of each role: worker processes by pid, servers with their children."""
    seconds = {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in roles.items()}
    seconds.update({role: tree_cpu_seconds(pid) for role, pid in servers.items()})
    return CpuSnapshot(seconds)


def machine_busy_seconds() -> float:
    """CPU seconds every core spent not idle since boot (/proc/stat's first line)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / TICKS


def resident_mb(pid: int) -> float:
    """A process's resident memory (/proc/PID/status), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(p) - 1]


def spread(values: Iterable[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    items = list(values)
    return statistics.median(items), min(items), max(items)
