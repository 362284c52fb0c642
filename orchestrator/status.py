"""Every status of a process and of a step, in one place (state machines: docs/state-machines.md)."""

from __future__ import annotations

from django.db import models


class ProcessStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    FAILED = "failed", "Waiting for an operator"
    COMPENSATING = "compensating", "Compensating"
    COMPLETED = "completed", "Completed"
    COMPENSATED = "compensated", "Compensated"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def terminal(cls) -> frozenset[ProcessStatus]:
        return frozenset({cls.COMPLETED, cls.COMPENSATED, cls.CANCELLED})


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
