"""Checks a workflow definition before anyone can run it (admin, import, demo data)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.engine.types import Definition, StepSpec, WaitKind
from orchestrator.status import StepPhase

MAX_SECONDS = 30 * 24 * 3600  # a timer further out than this is surely a typo


@dataclass(frozen=True)
class Problem:
    step: str | None  # None: about the definition as a whole
    field: str
    message: str

    def __str__(self) -> str:
        where = f"step {self.step!r}, " if self.step else ""
        return f"{where}{self.field}: {self.message}"


def deadline_problems(seconds: float | None) -> list[Problem]:
    """What is wrong with a workflow's business deadline (seconds after a process starts), if any."""
    if seconds is None:
        return []
    if not 0 < seconds <= MAX_SECONDS:
        return [Problem(None, "deadline", f"must be more than 0 s and at most {MAX_SECONDS // 86400} days")]
    return []


def kept_steps(definition: Definition, commands: Mapping[str, str | None]) -> list[str]:
    """Steps whose command declares an undo that the definition waives on purpose: what they did
    stays when the process compensates (a warning for whoever reads the definition or a process)."""
    return [
        spec.key
        for spec in definition.steps
        if spec.keep_on_compensation and not spec.compensation and commands.get(spec.command) is not None
    ]


def definition_problems(definition: Definition, commands: Mapping[str, str | None]) -> list[Problem]:
    """Everything wrong with `definition`. `commands` maps each declared command to its undo (or None)."""
    problems: list[Problem] = []
    keys = [spec.key for spec in definition.steps]
    phases = {spec.key: spec.phase for spec in definition.steps}
    if not definition.steps:
        problems.append(Problem(None, "steps", "a workflow needs at least one step"))
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        problems.append(Problem(key, "key", f"the key {key!r} is used by more than one step"))
    problems += _signal_problems(definition)
    for spec in definition.steps:
        if spec.wait is not None:
            problems += _wait_problems(definition, spec)
        elif spec.command not in commands:
            problems.append(Problem(spec.key, "command", f"unknown command {spec.command!r}"))
        elif spec.compensation:
            declared = commands[spec.command]
            if declared is None:
                problems.append(Problem(spec.key, "compensation", f"{spec.command} declares no compensation"))
            elif spec.compensation != declared:
                problems.append(
                    Problem(
                        spec.key,
                        "compensation",
                        f"{spec.command} is undone by {declared}, not {spec.compensation}",
                    )
                )
            if spec.keep_on_compensation:
                problems.append(
                    Problem(
                        spec.key,
                        "keep_on_compensation",
                        "a step with a compensation cannot also be kept when the process compensates",
                    )
                )
        elif commands[spec.command] is not None and not spec.keep_on_compensation:
            # Leaving out a declared undo would keep, say, a customer's money on a cancelled order.
            problems.append(
                Problem(
                    spec.key,
                    "compensation",
                    f"{spec.command} is undone by {commands[spec.command]}: choose it, or say on the step "
                    "that what it did is kept when the process compensates",
                )
            )
        for dep in spec.depends_on:
            if dep == spec.key:
                problems.append(Problem(spec.key, "depends_on", "a step cannot depend on itself"))
            elif dep not in phases:
                problems.append(Problem(spec.key, "depends_on", f"no step has the key {dep!r}"))
            elif phases[dep] != spec.phase:
                problems.append(
                    Problem(
                        spec.key, "depends_on", f"{dep!r} runs in another phase ({phases[dep].label.lower()})"
                    )
                )
        retry = spec.retry
        for field, ok, rule in (
            ("max_attempts", retry.max_attempts >= 1, "must be at least 1"),
            ("initial_delay", retry.initial_delay >= 0, "must not be negative"),
            ("multiplier", retry.multiplier >= 1, "must be at least 1"),
            ("max_delay", retry.max_delay >= retry.initial_delay, "must not be less than the initial delay"),
            ("jitter", 0 <= retry.jitter <= 1, "must be between 0 and 1"),
            ("timeout", spec.timeout > 0, "must be more than 0 seconds"),
            ("timeout", spec.timeout <= MAX_SECONDS, "must be at most 30 days"),
            ("max_delay", retry.max_delay <= MAX_SECONDS, "must be at most 30 days"),
        ):
            if not ok:
                problems.append(Problem(spec.key, field, rule))
    main = [spec for spec in definition.steps if spec.phase == StepPhase.MAIN]
    if definition.steps and not any(not spec.depends_on for spec in main):
        problems.append(
            Problem(None, "depends_on", "no step on the success path can start: every one depends on another")
        )
    cycle = _find_cycle(definition)
    if cycle:
        problems.append(Problem(cycle[0], "depends_on", "dependencies form a cycle: " + " -> ".join(cycle)))
    return problems


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DATA_PATH = re.compile(r"^(input|context)(\.[A-Za-z0-9_-]+)+$")


def _signal_problems(definition: Definition) -> list[Problem]:
    problems = []
    names = [signal.name for signal in definition.signals]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem(None, "signals", f"the signal {name!r} is declared more than once"))
    for signal in definition.signals:
        if not _NAME.match(signal.name):
            problems.append(
                Problem(
                    None, "signals", f"{signal.name!r}: a signal's name is lower case letters, digits and _"
                )
            )
        if not isinstance(signal.schema, dict):
            problems.append(Problem(None, "signals", f"{signal.name}: its schema must be a JSON object"))
    return problems


def _wait_problems(definition: Definition, spec: StepSpec) -> list[Problem]:
    """A wait step sends no command and waits for something that can happen."""
    wait = spec.wait
    assert wait is not None
    problems = []
    if spec.command or spec.compensation:
        problems.append(Problem(spec.key, "command", "a wait step sends no command and has nothing to undo"))
    if wait.kind == WaitKind.SIGNAL:
        if not wait.signals and not wait.fail_on:
            problems.append(Problem(spec.key, "wait", "name the signals it waits for"))
        for name in wait.listens_to:
            if definition.signal(name) is None:
                problems.append(Problem(spec.key, "wait", f"the workflow declares no signal {name!r}"))
        if both := sorted(set(wait.signals) & set(wait.fail_on)):
            problems.append(
                Problem(spec.key, "wait", f"{', '.join(both)} cannot both succeed and fail the step")
            )
    elif wait.kind == WaitKind.SLEEP:
        if not 0 < wait.seconds <= MAX_SECONDS:
            problems.append(Problem(spec.key, "wait", "sleeps more than 0 s and at most 30 days"))
    elif not _DATA_PATH.match(wait.until):
        problems.append(
            Problem(spec.key, "wait", "waits until a time at input.<path> or context.<step>.<path>")
        )
    elif abs(wait.offset) > MAX_SECONDS:
        problems.append(Problem(spec.key, "wait", "the offset is at most 30 days either way"))
    return problems


def _find_cycle(definition: Definition) -> list[str]:
    graph = {spec.key: [d for d in spec.depends_on if d != spec.key] for spec in definition.steps}
    visiting: set[str] = set()
    done: set[str] = set()
    path: list[str] = []

    def visit(key: str) -> list[str]:
        if key in done or key not in graph:
            return []
        if key in visiting:
            return [*path[path.index(key) :], key]
        visiting.add(key)
        path.append(key)
        for dep in graph[key]:
            if cycle := visit(dep):
                return cycle
        path.pop()
        visiting.discard(key)
        done.add(key)
        return []

    for key in graph:
        if cycle := visit(key):
            return cycle
    return []
