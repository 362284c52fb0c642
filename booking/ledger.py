"""What the services really did for each process, and whether the money adds up.

Every service declares how its records read as effects (its `ledger`, booking.services); the
ledger, the money check, the dashboard and the API are built from the registered declarations
alone, so a new service is listed everywhere once it is declared. Effects are found by process id,
never by a booking reference copied from a process's input: a process started with made-up input
cannot touch another booking's ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from booking.models import Booking
from booking.services.declaration import Effect
from booking.services.registry import services_all
from orchestrator.definitions import declared_commands, definition_for_run
from orchestrator.engine.types import Definition, State, StepState
from orchestrator.models import ProcessInstance
from orchestrator.selectors import state_of
from orchestrator.status import ProcessStatus, StepStatus


def effects_by_process(process_ids: Iterable[object]) -> dict[str, list[Effect]]:
    """Every effect of each process, in one query per service."""
    ids = [str(pk) for pk in process_ids]
    found: dict[str, list[Effect]] = defaultdict(list)
    for service in services_all():
        for effect in service.ledger(ids):
            found[effect.process_id].append(effect)
    return found


# --- the money check -----------------------------------------------------------------------------


def money_problems(bookings: Iterable[Booking]) -> list[str]:
    """Every booking whose side effects do not match how its process ended.

    Completed: charged exactly the amount, once; what each succeeded step did still stands.
    Compensated or cancelled: nothing charged net and nothing left standing, but for the steps
    the workflow keeps on purpose.
    """
    bookings = [b for b in bookings if b.process_id is not None]
    processes = ProcessInstance.objects.select_related("definition").in_bulk([b.process_id for b in bookings])
    effects = effects_by_process(processes)
    commands = declared_commands()
    problems = []
    for booking in bookings:
        process = processes[booking.process_id]
        definition = definition_for_run(process.definition)
        state = state_of(process)
        problems += [
            f"{booking.reference}: {problem}"
            for problem in _process_problems(
                definition, state, effects.get(str(process.pk), []), booking.amount, commands
            )
        ]
    return problems


def _process_problems(
    definition: Definition,
    state: State,
    effects: list[Effect],
    amount: Decimal,
    commands: dict[str, str | None],
) -> list[str]:
    charges = [e for e in effects if e.charged]
    net = sum((e.charged - e.refunded for e in effects), Decimal("0.00"))
    standing = {e.step for e in effects if e.undoable and e.in_place}
    undoable = {spec.key for spec in definition.steps if commands.get(spec.command) is not None}
    problems = []
    if len(charges) > 1:
        problems.append(f"charged {len(charges)} times")
    if state.status.is_completed:
        if net != amount:
            problems.append(f"completed but net charge {net} != {amount}")
        done = {key for key in undoable if state.steps[key].status == StepStatus.SUCCEEDED}
        if missing := sorted(done - standing):
            problems.append(f"completed but what {', '.join(missing)} did does not stand")
        if extra := sorted(standing - done):
            problems.append(f"completed but {', '.join(extra)} left something standing")
    elif state.status.is_undone:
        kept = {spec.key for spec in definition.steps if spec.keep_on_compensation}
        kept_net = sum((e.charged - e.refunded for e in effects if e.step in kept), Decimal("0.00"))
        if net != kept_net:
            problems.append(f"{state.status} but net charge {net}")
        if left := sorted(standing - kept):
            problems.append(f"{state.status} but what {', '.join(left)} did still stands")
    return problems


# --- what an operator and the API see ------------------------------------------------------------


@dataclass(frozen=True)
class LedgerLine:
    """An effect with where its undoing stands, for the dashboard."""

    effect: Effect
    # compensated, pending compensation, compensation failed, in doubt, NOT compensated,
    # kept on purpose, left in place (terminated), kept or not needed
    compensation: str


def compensation_standing(effect: Effect, step: StepState | None, state: State, kept: bool) -> str:
    """Where the undoing of one effect stands, from its step's state."""
    if not effect.undoable or step is None:
        return "kept" if effect.in_place else "not needed"
    if step.status == StepStatus.COMPENSATED:
        return "compensated"
    if step.status == StepStatus.COMPENSATION_FAILED:
        return "compensation failed"
    if step.status.is_compensation_in_progress:
        return "pending compensation"
    if step.in_doubt and not step.status.is_settled:
        return "in doubt"
    if effect.in_place and state.status.is_undone:
        return "kept on purpose" if kept else "NOT compensated"
    if effect.in_place and state.status == ProcessStatus.TERMINATED:
        return "left in place (terminated)"
    return "kept" if effect.in_place else "not needed"


def ledger_lines(process: ProcessInstance) -> list[LedgerLine]:
    """What each service did for one process, each effect with where its undoing stands."""
    state = state_of(process)
    definition = definition_for_run(process.definition)
    kept = {spec.key for spec in definition.steps if spec.keep_on_compensation}
    return [
        LedgerLine(
            effect,
            compensation_standing(effect, state.steps.get(effect.step), state, effect.step in kept),
        )
        for effect in effects_by_process([process.pk]).get(str(process.pk), [])
    ]


def ledger_details(booking: Booking) -> dict[str, Any]:
    """Every charge, reservation and e-mail of a booking, as plain data (the API's ledger)."""
    effects = effects_by_process([booking.process_id]).get(str(booking.process_id), [])
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for effect in effects:
        by_kind[effect.kind].append(effect.detail)
    return {
        "charged": str(sum((e.charged for e in effects), Decimal("0.00"))),
        "refunded": str(sum((e.refunded for e in effects), Decimal("0.00"))),
        "charges": by_kind["charge"],
        "reservations": by_kind["reservation"],
        "notifications": by_kind["notification"],
    }
