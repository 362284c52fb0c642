"""Bulk actions: one operator action rolled out over many processes, at a chosen rate."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class BulkAction(models.Model):
    class Action(models.TextChoices):
        RETRY = "retry", "Retry"
        CANCEL = "cancel", "Cancel"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"
        HALTED = "halted", "Halted: its creator may no longer run it"
        FINISHED = "finished", "Finished"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.TextField()
    rate = models.FloatField(
        validators=[MinValueValidator(0.1), MaxValueValidator(100)], help_text="Processes per second."
    )
    DESCRIPTION_LENGTH = 300
    description = models.CharField(max_length=DESCRIPTION_LENGTH, help_text="Which processes, in words.")
    process_ids = models.JSONField(default=list, blank=True)  # fixed when the action was confirmed
    position = models.PositiveIntegerField(default=0)  # how many have been handled
    applied = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # the action no longer applied to them
    problems = models.JSONField(default=list, blank=True)  # the latest reasons for skips, for the operator
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    stop_reason = models.CharField(max_length=300, blank=True, help_text="Who or what stopped it, and why.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    next_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {len(self.process_ids)} processes"

    @property
    def total(self) -> int:
        return len(self.process_ids)

    @property
    def percent(self) -> int:
        return int(100 * self.position / self.total) if self.total else 100
