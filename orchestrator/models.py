from __future__ import annotations

import uuid

from django.db import models


class WorkerProbe(models.Model):
    """A message sent to one queue to prove that a worker consumes it (see `check_workers`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    queue = models.CharField(max_length=64)
    sent_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"probe {self.queue} {self.sent_at:%Y-%m-%d %H:%M:%S}"
