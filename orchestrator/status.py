"""Every status of a process and of a step, in one place (state machines: docs/state-machines.md).

Statuses carry their own vocabulary (`is_terminal`, `waits_for_operator`, `is_compensation`, ...):
the rest of the project asks them, and nothing outside this module compares status strings.
Values read from the database are plain strings: `ProcessStatus(value).is_terminal`.
"""

from __future__ import annotations

from django.db import models


class ProcessStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    # A step failed past its retries (or its undo did): nothing moves until an operator acts.
    WAITING = "waiting", "Waiting for an operator"
    COMPENSATING = "compensating", "Compensating"
    COMPLETED = "completed", "Completed"
    COMPENSATED = "compensated", "Compensated"
    CANCELLED = "cancelled", "Cancelled"
    # Ended at once by an operator, nothing undone: what services did stays, on purpose (a test
    # booking, one the provider settled by hand).
    TERMINATED = "terminated", "Terminated"

    @classmethod
    def read(cls, value: str) -> ProcessStatus:
        """A status as stored or asked for, the former name of WAITING ("failed") included: old
        snapshots and bookmarked filters still read."""
        return cls.WAITING if value == _FORMERLY_WAITING else cls(value)

    @classmethod
    def terminal(cls) -> frozenset[ProcessStatus]:
        return frozenset({cls.COMPLETED, cls.COMPENSATED, cls.CANCELLED, cls.TERMINATED})

    @classmethod
    def undone(cls) -> frozenset[ProcessStatus]:
        """Ended without its purpose: what was done has been undone (or kept on purpose)."""
        return frozenset({cls.COMPENSATED, cls.CANCELLED})

    @property
    def is_terminal(self) -> bool:
        return self in ProcessStatus.terminal()

    @property
    def is_undone(self) -> bool:
        return self in ProcessStatus.undone()

    @property
    def is_compensation(self) -> bool:
        """Undoing what was done, or done undoing it."""
        return self == ProcessStatus.COMPENSATING or self.is_undone

    @property
    def is_completed(self) -> bool:
        return self == ProcessStatus.COMPLETED

    @property
    def waits_for_operator(self) -> bool:
        return self == ProcessStatus.WAITING

    @property
    def moves_on_its_own(self) -> bool:
        """Running or compensating: nobody needs to act for its next command to go out."""
        return self in (ProcessStatus.RUNNING, ProcessStatus.COMPENSATING)


# What WAITING was called before its name said what it means (snapshots and URLs may still say it).
_FORMERLY_WAITING = "failed"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped by an operator"
    COMPENSATION_PENDING = "compensation_pending", "Compensation about to start"
    COMPENSATING = "compensating", "Compensating"
    COMPENSATION_RETRYING = "compensation_retrying", "Compensation waiting to retry"
    COMPENSATED = "compensated", "Compensated"
    COMPENSATION_FAILED = "compensation_failed", "Compensation failed"

    @property
    def is_compensation(self) -> bool:
        """The step is being, or has been, undone."""
        return self in _COMPENSATION

    @property
    def is_compensation_in_progress(self) -> bool:
        """Its undo has started and has not finished (it may wait for an operator)."""
        return self in _COMPENSATION and self != StepStatus.COMPENSATED

    @property
    def is_done(self) -> bool:
        """Its work stands: done by the service, or by an operator's skip."""
        return self in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)

    @property
    def is_settled(self) -> bool:
        """It has a final answer: done, or undone."""
        return self in (StepStatus.SUCCEEDED, StepStatus.COMPENSATED)

    @property
    def is_at_work(self) -> bool:
        """A command for it is out or about to go out again (its action or its undo)."""
        return self in _AT_WORK

    @property
    def waits_for_operator_undo(self) -> bool:
        return self == StepStatus.COMPENSATION_FAILED


_COMPENSATION = frozenset(
    {
        StepStatus.COMPENSATION_PENDING,
        StepStatus.COMPENSATING,
        StepStatus.COMPENSATION_RETRYING,
        StepStatus.COMPENSATED,
        StepStatus.COMPENSATION_FAILED,
    }
)
_AT_WORK = frozenset(
    {
        StepStatus.RUNNING,
        StepStatus.RETRYING,
        StepStatus.COMPENSATION_PENDING,
        StepStatus.COMPENSATING,
        StepStatus.COMPENSATION_RETRYING,
    }
)


class DefinitionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class OnExhausted(models.TextChoices):
    PAUSE = "pause", "Wait for an operator"
    COMPENSATE = "compensate", "Compensate the process"


class StepPhase(models.TextChoices):
    MAIN = "main", "Success path"
    AFTER_COMPENSATION = "after_compensation", "After compensation"
