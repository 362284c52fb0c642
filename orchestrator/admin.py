"""Admin for the engine's records. The history is read-only: nothing edits it by hand."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from orchestrator.models import DeadLetter, Event, Outbox, ProcessInstance, StepDefinition, WorkflowDefinition


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _frozen(obj: Any) -> bool:
    definition = obj.definition if isinstance(obj, StepDefinition) else obj
    return definition is not None and definition.frozen_at is not None


class StepInline(admin.TabularInline):
    model = StepDefinition
    extra = 0

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _frozen(obj) and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _frozen(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _frozen(obj) and super().has_delete_permission(request, obj)


@admin.register(WorkflowDefinition)
class WorkflowDefinitionAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "status", "frozen_at", "updated_at"]
    list_filter = ["status", "name"]
    inlines = [StepInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A version that processes run on never changes; make a new version instead.
        return not _frozen(obj) and super().has_change_permission(request, obj)


@admin.register(ProcessInstance)
class ProcessInstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "workflow_name", "business_key", "status", "created_at", "ended_at"]
    list_filter = ["status", "workflow_name"]
    search_fields = ["=id", "business_key"]
    date_hierarchy = "created_at"


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["process", "seq", "type", "step", "attempt", "actor", "created_at"]
    list_filter = ["type"]
    search_fields = ["=process__id", "message_id", "actor"]
    list_select_related = ["process"]


@admin.register(Outbox)
class OutboxAdmin(ReadOnlyAdmin):
    list_display = ["message_id", "task_name", "queue", "created_at", "published_at", "publish_attempts"]
    list_filter = ["queue", ("published_at", admin.EmptyFieldListFilter)]
    search_fields = ["message_id"]


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "task_name", "reason", "process_id"]
    list_filter = ["task_name"]
    search_fields = ["reason", "process_id", "body"]
