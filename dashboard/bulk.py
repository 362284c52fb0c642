"""Bulk actions: retry or cancel many processes, rolled out at a rate the operator sets.

The set of processes is fixed when the operator confirms; a periodic task then takes the next
few each second, each through the engine like a single action (same checks, same history),
until all are done or someone stops it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from dashboard.models import BulkAction
from orchestrator.actions import ACTIONS, BULK_PERMISSION, VIEW_PERMISSION, ActionNotAllowed
from orchestrator.definitions import definition_for_run
from orchestrator.models import ProcessInstance
from orchestrator.previews import preview
from orchestrator.processes import TRANSIENT_ERRORS, ProcessNotFound, operator_act
from orchestrator.selectors import state_of

logger = logging.getLogger(__name__)

MAX_TARGETS = 10_000
PROBLEMS_KEPT = 20


@dataclass
class BulkPreview:
    applicable: list[str] = field(default_factory=list)  # process ids
    not_applicable: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # service queue -> commands it will receive


def bulk_preview(action: str, processes: Iterable[ProcessInstance]) -> BulkPreview:
    """Which processes the action applies to, and which services it will call how often if every
    command succeeds (each process's preview is the engine's dry run)."""
    found = BulkPreview()
    now = timezone.now()
    for process in processes:
        definition = definition_for_run(process.definition)
        state = state_of(process)
        one = preview(definition, state, action, at=now)
        if one.refusal:
            found.not_applicable += 1
            continue
        found.calls.update(one.queues)
        found.applicable.append(str(process.pk))
    return found


def bulk_start(
    *, action: str, process_ids: list[str], rate: float, reason: str, user: Any, description: str
) -> BulkAction:
    bulk = BulkAction(
        action=action,
        process_ids=process_ids[:MAX_TARGETS],
        rate=rate,
        reason=reason,
        description=description,
        created_by=user,
        next_run_at=timezone.now(),
    )
    bulk.full_clean()
    bulk.save()
    return bulk


def bulk_stop(bulk: BulkAction, *, reason: str) -> None:
    BulkAction.objects.filter(pk=bulk.pk, status=BulkAction.Status.RUNNING).update(
        status=BulkAction.Status.STOPPED, stop_reason=reason[:300], updated_at=timezone.now()
    )


def creator_may_go_on(bulk: BulkAction) -> str:
    """Why the rollout's creator may no longer run it, or "" when they still may.

    A rollout acts as the user who confirmed it: each batch re-checks that account, so removing a
    permission or deactivating the account stops the rollouts it left running.
    """
    creator = bulk.created_by
    if not creator.is_active:
        return f"{creator.get_username()}'s account is no longer active"
    for permission in (VIEW_PERMISSION, BULK_PERMISSION, ACTIONS[bulk.action].permission):
        if not creator.has_perm(permission):
            return f"{creator.get_username()} no longer has the permission {permission!r}"
    return ""


def bulk_advance(*, now: datetime | None = None, period: float = 1.0) -> int:
    """One step of every running rollout: the next rate * period processes. Returns how many."""
    moment = now or timezone.now()
    handled = 0
    running = BulkAction.objects.filter(status=BulkAction.Status.RUNNING, next_run_at__lte=moment)
    for bulk_id in running.values_list("pk", flat=True):
        try:
            handled += _advance_one(bulk_id, moment, period)
        except Exception:  # one rollout in trouble must not hold the others up
            logger.exception("bulk action %s could not advance", bulk_id)
    return handled


def _advance_one(bulk_id: Any, moment: datetime, period: float) -> int:
    with transaction.atomic():
        bulk = (
            BulkAction.objects.select_for_update(skip_locked=True)
            .filter(pk=bulk_id, status=BulkAction.Status.RUNNING, next_run_at__lte=moment)
            .first()
        )
        if bulk is None:
            return 0  # another tick has it or just did it, or someone stopped it
        if refused := creator_may_go_on(bulk):
            bulk.status = BulkAction.Status.HALTED
            bulk.stop_reason = refused
            bulk.save(update_fields=["status", "stop_reason", "updated_at"])
            logger.warning("bulk action %s halted: %s", bulk.pk, refused)
            return 0
        count = max(1, math.floor(bulk.rate * period))
        batch = bulk.process_ids[bulk.position : bulk.position + count]
        for process_id in batch:
            problem = _apply(bulk, process_id)
            if problem:
                bulk.skipped += 1
                bulk.problems = [*bulk.problems, f"{process_id[:8]}: {problem}"][-PROBLEMS_KEPT:]
            else:
                bulk.applied += 1
        bulk.position += len(batch)
        if bulk.position >= bulk.total:
            bulk.status = BulkAction.Status.FINISHED
        # Below one per period, wait 1/rate between processes.
        wait = max(period, 1 / bulk.rate) if bulk.rate < 1 else period
        bulk.next_run_at = moment + timedelta(seconds=wait)
        bulk.save()
        return len(batch)


def _apply(bulk: BulkAction, process_id: str) -> str:
    """Apply the bulk action to one process, as its creator; returns why it was skipped, or ""."""
    reason = f"bulk {bulk.action}: {bulk.reason}"
    try:
        with transaction.atomic():  # a savepoint: one refusal does not undo the others
            operator_act(process_id=process_id, action=bulk.action, user=bulk.created_by, reason=reason)
    except (ActionNotAllowed, ProcessNotFound) as refused:
        return str(refused)
    except TRANSIENT_ERRORS:
        raise  # the database is away: the whole batch waits for the next tick
    except Exception as exc:  # a broken process is skipped with the reason; the rollout goes on
        logger.exception("bulk %s of %s failed", bulk.action, process_id)
        return f"could not be applied: {type(exc).__name__}: {exc}"
    return ""
