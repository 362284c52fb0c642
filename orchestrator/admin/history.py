"""Processes and what happened to them, read-only: the history, the outbox, dead letters,
worker probes. Retry and cancel go through the engine, with the same permissions and audit
events as the dashboard; the search box is the dashboard's (orchestrator.selectors)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString

from orchestrator.actions import ActionName, may_act
from orchestrator.admin.common import ReadOnlyAdmin, dashboard_link
from orchestrator.engine.decide import ActionNotAllowed
from orchestrator.models import (
    DeadLetter,
    DeliveryCount,
    HistoryEntry,
    Outbox,
    ProcessInstance,
    WorkerProbe,
)
from orchestrator.processes import ProcessNotFound, operator_act
from orchestrator.selectors import search_condition


@admin.register(ProcessInstance)
class ProcessInstanceAdmin(ReadOnlyAdmin):
    list_display = [
        "business_key",
        "workflow_name",
        "version",
        "status",
        "created_at",
        "ended_at",
        "dashboard",
    ]
    list_filter = ["status", "workflow_name", "in_doubt"]
    search_fields = ["=id", "business_key"]  # shows the box; the search itself is below
    date_hierarchy = "created_at"
    list_select_related = ["definition"]
    exclude = ["state"]
    actions = ["retry", "cancel"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ProcessInstance], search_term: str
    ) -> tuple[QuerySet[ProcessInstance], bool]:
        """The dashboard's search box: business key, process id, and what the domains register
        (a business key, or what the domains register: a customer's e-mail, say)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(search_condition(term)), False

    @admin.display(description="version")
    def version(self, obj: ProcessInstance) -> int:
        return obj.definition.version

    @admin.display(description="")
    def dashboard(self, obj: ProcessInstance) -> SafeString:
        return dashboard_link(obj.pk)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return may_act(request.user, ActionName.RETRY)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return may_act(request.user, ActionName.CANCEL)

    @admin.action(description="Retry the step that waits (through the engine)", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[ProcessInstance]) -> HttpResponse | None:
        return self._act(request, queryset, "retry")

    @admin.action(description="Cancel: compensate what was done (through the engine)", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[ProcessInstance]) -> HttpResponse | None:
        return self._act(request, queryset, "cancel")

    def _act(
        self, request: HttpRequest, queryset: QuerySet[ProcessInstance], action: str
    ) -> HttpResponse | None:
        """A confirmation page asking why, then the action on each process, as the dashboard does."""
        reason = request.POST.get("reason", "").strip()
        if "confirm" not in request.POST or not reason:
            context = {
                **self.admin_site.each_context(request),
                "title": f"{action.capitalize()} processes",
                "processes": queryset,
                "action": action,
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "missing_reason": "confirm" in request.POST,
            }
            return render(request, "admin/orchestrator/processinstance/confirm_action.html", context)
        applied, refused = 0, []
        for process in queryset:
            try:
                operator_act(
                    process_id=str(process.pk),
                    action=action,
                    user=request.user,
                    reason=f"admin: {reason}",
                )
                applied += 1
            except (ActionNotAllowed, ProcessNotFound, PermissionDenied) as exc:
                refused.append(f"{process.business_key}: {exc}")
        self.message_user(request, f"{action}: applied to {applied} process(es).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)
        return None


@admin.register(HistoryEntry)
class HistoryEntryAdmin(ReadOnlyAdmin):
    list_display = ["process_link", "seq", "type", "step", "attempt", "actor", "reason", "created_at"]
    list_filter = ["type"]
    search_fields = ["=process__id", "process__business_key", "message_id", "actor", "reason"]
    list_select_related = ["process"]

    @admin.display(description="process")
    def process_link(self, obj: HistoryEntry) -> SafeString:
        return dashboard_link(obj.process_id, obj.process.business_key)


@admin.register(Outbox)
class OutboxAdmin(ReadOnlyAdmin):
    list_display = [
        "message_id",
        "task_name",
        "queue",
        "created_at",
        "published_at",
        "discarded_at",
        "publish_attempts",
    ]
    list_filter = [
        "queue",
        ("published_at", admin.EmptyFieldListFilter),
        ("discarded_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["message_id", "=process__id"]


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "task_name", "queue", "reason", "process"]
    list_filter = ["task_name", "queue"]
    search_fields = ["reason", "process_id", "body"]

    @admin.display(description="process")
    def process(self, obj: DeadLetter) -> SafeString | str:
        if obj.process_id and ProcessInstance.objects.filter(pk=obj.process_id).exists():
            return dashboard_link(obj.process_id)
        return obj.process_id or "—"


@admin.register(WorkerProbe)
class WorkerProbeAdmin(ReadOnlyAdmin):
    list_display = ["queue", "sent_at", "answered_at", "worker"]
    list_filter = ["queue"]


@admin.register(DeliveryCount)
class DeliveryCountAdmin(ReadOnlyAdmin):
    list_display = ["message_id", "count", "last_at"]
