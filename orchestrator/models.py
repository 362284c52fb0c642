from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from orchestrator.status import DefinitionStatus, OnExhausted, ProcessStatus, StepPhase


class WorkflowDefinition(models.Model):
    """A named, versioned workflow. Immutable once a process has started on it."""

    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=DefinitionStatus.choices, default=DefinitionStatus.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when the first process starts on this version; from then on it never changes.
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A business deadline: a process not ended this long after it started needs a look.
    deadline = models.DurationField(
        null=True,
        blank=True,
        help_text="How long after its start a process should have ended, e.g. 00:30:00.",
    )
    deadline_reason = models.CharField(
        max_length=200, blank=True, help_text="Why, in a few words, e.g. 'the price quote expires'."
    )
    signals = models.JSONField(
        default=list,
        blank=True,
        help_text='Signals a process takes from outside: [{"name": "payment_confirmed", "schema": '
        '{JSON Schema of its data}, "early": "keep" or "refuse"}] (orchestrator.engine.types.SignalSpec).',
    )

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="definition_name_version_unique"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(status="active"), name="definition_one_active_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class StepDefinition(models.Model):
    definition = models.ForeignKey(WorkflowDefinition, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(
        default=0, help_text="Display order; dependencies decide run order."
    )
    key = models.SlugField(max_length=64, help_text="Unique within the workflow, e.g. 'ship'.")
    command = models.CharField(
        max_length=100, blank=True, help_text="A command declared by a service (none for a wait step)."
    )
    compensation = models.CharField(max_length=100, blank=True, help_text="The command that undoes it.")
    keep_on_compensation = models.BooleanField(
        default=False,
        help_text="Keep what this step did when the process compensates, although its command "
        "declares an undo (shown as a warning wherever the step is).",
    )
    depends_on = models.JSONField(
        default=list, blank=True, help_text="Keys of the steps that must be done first."
    )
    max_attempts = models.PositiveIntegerField(default=3)
    initial_delay = models.FloatField(default=1.0, help_text="Seconds before the second attempt.")
    multiplier = models.FloatField(default=2.0)
    max_delay = models.FloatField(default=60.0, help_text="Longest wait between attempts, in seconds.")
    jitter = models.FloatField(default=0.1, help_text="Fraction of each delay spread at random (0 to 1).")
    timeout = models.FloatField(default=30.0, help_text="Seconds an attempt may take before it is in doubt.")
    on_exhausted = models.CharField(max_length=16, choices=OnExhausted.choices, default=OnExhausted.PAUSE)
    phase = models.CharField(max_length=24, choices=StepPhase.choices, default=StepPhase.MAIN)
    params = models.JSONField(default=dict, blank=True, help_text="Fixed arguments for the command.")
    wait = models.JSONField(
        null=True,
        blank=True,
        help_text='A wait step: {"kind": "signal", "signals": [...], "fail_on": [...], "on_timeout": '
        '"fail" or "continue"}, {"kind": "sleep", "seconds": 3600} or {"kind": "until", "until": '
        '"input.<path>", "offset": -86400} (orchestrator.engine.types.WaitSpec).',
    )

    class Meta:
        ordering = ["definition", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "key"], name="step_key_unique_in_definition"),
        ]

    def __str__(self) -> str:
        return f"{self.definition}: {self.key}"


class ProcessInstance(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    definition = models.ForeignKey(WorkflowDefinition, on_delete=models.PROTECT, related_name="instances")
    workflow_name = models.SlugField(max_length=100)
    business_key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=ProcessStatus.choices, default=ProcessStatus.RUNNING)
    input = models.JSONField(default=dict)
    context = models.JSONField(default=dict)
    state = models.JSONField(default=dict)  # the snapshot: the fold of the whole history
    seq = models.PositiveIntegerField(default=0)  # events in the history
    wake_at = models.DateTimeField(null=True, blank=True)  # the earliest due timer
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Summaries of the snapshot, for the dashboard's filters (kept by every transition).
    active_steps = models.TextField(blank=True, help_text='Steps at work, as ",pack,ship,".')
    max_attempt = models.PositiveIntegerField(default=0, help_text="The highest attempt of any step.")
    in_doubt = models.BooleanField(default=False, help_text="A step timed out without a definite answer.")
    retrying_attempt = models.PositiveIntegerField(
        default=0, help_text="The attempt a failing step reached while it waits for its retry (0: none)."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow_name", "business_key"], name="process_business_key_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["wake_at"], name="process_wake_at", condition=Q(wake_at__isnull=False)),
            models.Index(fields=["status", "-created_at"], name="process_status_created"),
            models.Index(fields=["-created_at", "-id"], name="process_created"),
            models.Index(fields=["updated_at"], name="process_updated"),
            # The Metrics page's processes ended per minute (dashboard.figures).
            models.Index(fields=["ended_at"], name="process_ended", condition=Q(ended_at__isnull=False)),
            # The list's trouble (decision 44): few rows each, counted and listed by these alone.
            models.Index(fields=["created_at"], name="process_retrying", condition=Q(retrying_attempt__gt=0)),
            models.Index(
                fields=["created_at"],
                name="process_in_doubt",
                condition=Q(in_doubt=True, ended_at__isnull=True),
            ),
            # The attention panel's "past its workflow's deadline": the oldest open processes of a
            # definition, without walking the ended ones (decision 44).
            models.Index(
                fields=["definition", "created_at"],
                name="process_open_by_definition",
                condition=Q(ended_at__isnull=True),
            ),
            # The search box (orchestrator.selectors.search_condition): exact lookups, each by index;
            # the keys of the steps' outputs are in ProcessKey.
            models.Index(Upper("business_key"), name="process_business_key_upper"),
        ]
        # Operator actions, each its own permission (the dashboard, the API and the admin check them).
        permissions = [
            ("retry_step", "Can retry a step"),
            ("skip_step", "Can skip a step"),
            ("cancel_process", "Can cancel a process"),
            ("terminate_process", "Can terminate a process without undoing anything"),
            ("signal_process", "Can send a signal to a process"),
            ("compensate_process", "Can compensate a process"),
            ("pause_process", "Can pause and resume a process"),
            ("bulk_act", "Can run bulk actions"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_name} {self.business_key}"

    @property
    def status_now(self) -> ProcessStatus:
        """The status with its vocabulary (`is_terminal`, ...): the column holds a plain string."""
        return ProcessStatus(self.status)


class ProcessKey(models.Model):
    """A business key a step's output carried (a tracking number), for the search box.

    Written by the transition that brought the output (orchestrator.keys); which fields are keys
    is declared by each command, so the table serves every service alike.
    """

    process = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="keys")
    step = models.CharField(max_length=64)
    name = models.CharField(max_length=64, help_text="The field of the step's output.")
    value = models.CharField(max_length=200, help_text="Upper case: searched in any case.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["process", "step", "name"], name="process_key_step_name_unique"),
        ]
        indexes = [models.Index(fields=["value"], name="process_key_value")]

    def __str__(self) -> str:
        return f"{self.step}.{self.name} = {self.value}"


class ProcessCount(models.Model):
    """How many processes of a workflow are in a status: kept by PostgreSQL triggers on the
    processes table (migration 0007), so that the dashboard's counters and /metrics sum a few
    rows instead of counting a million. Each transaction adds to a shard of its own, so that
    concurrent transitions never wait on one row; a shard's `n` may be negative, the sum over
    the shards is the count. Unused (empty) on other databases, which count by GROUP BY.
    """

    workflow_name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=ProcessStatus.choices)
    shard = models.PositiveSmallIntegerField()
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow_name", "status", "shard"], name="process_count_workflow_status_shard"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_name} {self.status} #{self.shard}: {self.n}"


class _AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{self.model.__name__} rows are never updated")

    def delete(self) -> NoReturn:
        raise TypeError(f"{self.model.__name__} rows are never deleted")


class HistoryEntry(models.Model):
    """One event in a process's history, as stored: append-only, the process's audit log.

    (The engine's `Event` is the same fact in memory; this is its row.)"""

    process = models.ForeignKey(ProcessInstance, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveIntegerField()
    message_id = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=40)
    step = models.CharField(max_length=64, blank=True)
    attempt = models.PositiveIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    note = models.TextField(blank=True, help_text="What the engine made of it, e.g. why it changed nothing.")
    created_at = models.DateTimeField()

    objects = _AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["process", "seq"]
        verbose_name = "history entry"
        verbose_name_plural = "history entries"
        constraints = [models.UniqueConstraint(fields=["process", "seq"], name="event_process_seq_unique")]
        indexes = [
            # The Metrics page's failure rates and latencies read the step replies of a time range.
            models.Index(
                fields=["created_at"],
                name="event_step_reply_created",
                condition=Q(type__in=["step.succeeded", "step.failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("events are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("events are never deleted")


class Outbox(models.Model):
    """A message decided in a transaction, published after it commits (and again if lost)."""

    process = models.ForeignKey(ProcessInstance, on_delete=models.PROTECT, related_name="outbox")
    message_id = models.CharField(max_length=200, unique=True)
    task_name = models.CharField(max_length=100)
    queue = models.CharField(max_length=64)
    body = models.JSONField()
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    # Set when the process ended before the row could be published: it is never sent then.
    discarded_at = models.DateTimeField(null=True, blank=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "outbox"
        indexes = [
            models.Index(
                fields=["created_at"], name="outbox_unpublished", condition=Q(published_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} {self.message_id}"


class DeadLetter(models.Model):
    """A message the engine could not take: kept with the reason, never silently dropped."""

    received_at = models.DateTimeField(auto_now_add=True)
    task_name = models.CharField(max_length=100)
    body = models.TextField()
    reason = models.TextField()
    process_id = models.CharField(max_length=64, blank=True)
    queue = models.CharField(max_length=64, blank=True, help_text="Where it was found, when known.")

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.task_name}: {self.reason[:60]}"


class DeliveryCount(models.Model):
    """How often a redelivered message came back (see orchestrator.redelivery)."""

    message_id = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.message_id}: {self.count}"


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
