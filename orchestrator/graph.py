"""Lays out a workflow's steps as a graph for an SVG: columns by depth, parallel steps stacked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from orchestrator.engine.summary import step_does
from orchestrator.engine.types import Definition, State, StepSpec
from orchestrator.status import StepPhase, StepStatus

NODE_W, NODE_H = 172, 74
GAP_X, GAP_Y, MARGIN = 56, 22, 16
BAND_GAP = 46  # between the success path and the after-compensation steps


@dataclass
class Node:
    key: str
    command: str
    x: int
    y: int
    status: str  # a StepStatus value, for the colour and the icon
    label: str
    lines: list[str] = field(default_factory=list)
    in_doubt: bool = False
    awaiting_operator: bool = False
    refused: bool = False


@dataclass
class Graph:
    width: int
    height: int
    nodes: list[Node]
    edges: list[str]  # SVG path data
    band_y: int | None  # where the after-compensation band starts, if there is one
    node_w: int = NODE_W
    node_h: int = NODE_H


def _depths(steps: tuple[StepSpec, ...]) -> dict[str, int]:
    by_key = {spec.key: spec for spec in steps}
    depth: dict[str, int] = {}

    def of(key: str, seen: frozenset[str] = frozenset()) -> int:
        if key not in depth:
            deps = [d for d in by_key[key].depends_on if d in by_key and d not in seen]
            depth[key] = 1 + max((of(d, seen | {key}) for d in deps), default=-1)
        return depth[key]

    for spec in steps:
        of(spec.key)
    return depth


def graph_layout(definition: Definition, state: State | None = None) -> Graph:
    nodes: dict[str, Node] = {}
    top = MARGIN
    band_y = None
    width = 0
    for phase in (StepPhase.MAIN, StepPhase.AFTER_COMPENSATION):
        steps = definition.phase_steps(phase)
        if not steps:
            continue
        if phase == StepPhase.AFTER_COMPENSATION:
            band_y = top + BAND_GAP // 2 - 10
            top += BAND_GAP
        depth = _depths(steps)
        columns: dict[int, list[StepSpec]] = {}
        for spec in steps:
            columns.setdefault(depth[spec.key], []).append(spec)
        rows = max(len(column) for column in columns.values())
        for level, column in columns.items():
            for row, spec in enumerate(column):
                x = MARGIN + level * (NODE_W + GAP_X)
                # Center shorter columns against the tallest one.
                y = top + row * (NODE_H + GAP_Y) + (rows - len(column)) * (NODE_H + GAP_Y) // 2
                nodes[spec.key] = _node(spec, x, y, state)
                width = max(width, x + NODE_W + MARGIN)
        top += rows * (NODE_H + GAP_Y) - GAP_Y
    edges = []
    for spec in definition.steps:
        for dep in spec.depends_on:
            if dep in nodes:
                a, b = nodes[dep], nodes[spec.key]
                x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
                x2, y2 = b.x, b.y + NODE_H // 2
                mid = (x1 + x2) // 2
                edges.append(f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 6},{y2}")
    return Graph(width=width, height=top + MARGIN, nodes=list(nodes.values()), edges=edges, band_y=band_y)


def _node(spec: StepSpec, x: int, y: int, state: State | None) -> Node:
    command = step_does(spec)  # a wait step has no command: what it waits for stands in its place
    if state is None:
        return Node(spec.key, command, x, y, "pending", "", [command])
    st = state.steps[spec.key]
    lines = []
    if st.attempt:
        lines.append(f"attempt {st.attempt - st.budget_from} of {spec.retry.max_attempts}")
    if st.comp_attempt:
        lines.append(f"undo attempt {st.comp_attempt - st.comp_budget_from}")
    if st.retry_at is not None:
        lines.append(f"next try {_clock(st.retry_at)}")
    elif st.deadline_at is not None:
        lines.append(f"times out {_clock(st.deadline_at)}")
    label = step_label(st, state)
    return Node(
        key=spec.key,
        command=command,
        x=x,
        y=y,
        status=st.status.value,
        label=label,
        lines=lines[:2],
        in_doubt=st.in_doubt and st.status not in (StepStatus.SUCCEEDED, StepStatus.COMPENSATED),
        awaiting_operator=st.awaiting_operator or st.status == StepStatus.COMPENSATION_FAILED,
        refused=st.refused,
    )


def step_label(st: Any, state: State) -> str:
    """A step's status in words, with the two cases the bare status hides."""
    if st.status == StepStatus.FAILED and st.refused:
        return "Refused"
    if st.status == StepStatus.PENDING and state.status.is_terminal:
        return "Not run"
    return str(StepStatus(st.status).label)


def _clock(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M:%S")
