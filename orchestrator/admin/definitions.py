"""Workflow definitions in the admin: edited with their steps inline and checked like an import
is; a version that processes run on is read-only (make a new version); import and export."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from orchestrator.commands import commands_all
from orchestrator.definitions import (
    InvalidDefinition,
    declared_commands,
    definition_activate,
    definition_compile,
    definition_new_version,
    definition_retire,
    schema_problems,
    signals_from_json,
    wait_from_json,
)
from orchestrator.engine.types import Definition, RetryPolicy, StepSpec
from orchestrator.engine.validate import deadline_problems, definition_problems, kept_steps
from orchestrator.graph import graph_layout
from orchestrator.models import (
    StepDefinition,
    WorkflowDefinition,
)
from orchestrator.status import OnExhausted, ProcessStatus, StepPhase
from orchestrator.workflow_io import ImportRefused, ImportRights, workflows_export, workflows_import


def _frozen(obj: Any) -> bool:
    definition = obj.definition if isinstance(obj, StepDefinition) else obj
    return definition is not None and definition.frozen_at is not None


class StepForm(forms.ModelForm):
    command = forms.ChoiceField(
        required=False, help_text="A command declared by a service (none for a wait)."
    )
    compensation = forms.ChoiceField(required=False, help_text="The declared command that undoes it.")
    depends_on = forms.CharField(required=False, help_text="Keys of earlier steps, comma-separated.")

    class Meta:
        model = StepDefinition
        fields = [
            "position",
            "key",
            "command",
            "compensation",
            "keep_on_compensation",
            "depends_on",
            "max_attempts",
            "initial_delay",
            "multiplier",
            "max_delay",
            "jitter",
            "timeout",
            "on_exhausted",
            "phase",
            "params",
            "wait",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        specs = commands_all()
        self.fields["command"].choices = [("", "---------")] + [  # type: ignore[attr-defined]
            (spec.name, spec.name) for spec in specs if not spec.is_compensation
        ]
        self.fields["compensation"].choices = [("", "none")] + [  # type: ignore[attr-defined]
            (spec.name, spec.name) for spec in specs if spec.is_compensation
        ]
        if self.instance.pk:
            self.initial["depends_on"] = ", ".join(self.instance.depends_on or [])

    def clean_depends_on(self) -> list[str]:
        raw = self.cleaned_data.get("depends_on") or ""
        return [key.strip() for key in raw.split(",") if key.strip()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("command") and not data.get("wait"):
            self.add_error("command", "Choose a command, or describe what the step waits for (a wait step).")
        return data


class StepFormSet(BaseInlineFormSet):
    """Checks the steps together, as the engine will run them, and puts each problem on its field."""

    def clean(self) -> None:
        super().clean()
        forms_by_key: dict[str, list[forms.Form]] = {}
        specs = []
        for form in self.forms:
            deleted = self.can_delete and self._should_delete_form(form)  # type: ignore[attr-defined]
            if not getattr(form, "cleaned_data", None) or deleted:
                continue
            if form.errors:
                return  # field errors first; the whole is checked once each field is right
            data = form.cleaned_data
            try:
                wait = wait_from_json(data["key"], data["wait"]) if data.get("wait") else None
            except InvalidDefinition as invalid:
                form.add_error("wait", "; ".join(problem.message for problem in invalid.problems))
                return
            spec = StepSpec(
                key=data["key"],
                command=data["command"],
                compensation=data.get("compensation") or None,
                depends_on=tuple(data.get("depends_on") or ()),
                retry=RetryPolicy(
                    max_attempts=data["max_attempts"],
                    initial_delay=data["initial_delay"],
                    multiplier=data["multiplier"],
                    max_delay=data["max_delay"],
                    jitter=data["jitter"],
                ),
                timeout=data["timeout"],
                on_exhausted=OnExhausted(data["on_exhausted"]),
                phase=StepPhase(data["phase"]),
                params=data.get("params") or {},
                keep_on_compensation=bool(data.get("keep_on_compensation")),
                wait=wait,
            )
            specs.append(spec)
            forms_by_key.setdefault(spec.key, []).append(form)
        try:  # the definition's own form checked them already: a bad list shows there
            signals = signals_from_json(self.instance.signals or [])
        except InvalidDefinition:
            signals = ()
        definition = Definition(
            self.instance.name or "draft", self.instance.version or 1, tuple(specs), signals=signals
        )
        whole = []
        for problem in definition_problems(definition, declared_commands()):
            targets = forms_by_key.get(problem.step or "", [])
            for form in targets:
                field = problem.field if problem.field in form.fields else None
                form.add_error(field, problem.message if field else f"{problem.field}: {problem.message}")
            if not targets:
                whole.append(problem.message)
        if whole:
            raise ValidationError(whole)


class StepInline(admin.TabularInline):
    model = StepDefinition
    form = StepForm
    formset = StepFormSet
    extra = 0
    ordering = ["position", "id"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _frozen(obj) and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _frozen(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _frozen(obj) and super().has_delete_permission(request, obj)


class WorkflowDefinitionForm(forms.ModelForm):
    class Meta:
        model = WorkflowDefinition
        fields = ["name", "version", "description", "deadline", "deadline_reason", "signals"]

    def clean_signals(self) -> Any:
        raw = self.cleaned_data.get("signals") or []
        try:
            signals = signals_from_json(raw)
        except InvalidDefinition as invalid:
            raise ValidationError([problem.message for problem in invalid.problems]) from None
        names = [signal.name for signal in signals]
        problems = [
            f"the signal {name!r} is declared more than once" for name in set(names) if names.count(name) > 1
        ]
        problems += [problem.message for problem in schema_problems(Definition("draft", 1, (), signals))]
        if problems:
            raise ValidationError(problems)
        return raw

    def clean_deadline(self) -> Any:
        deadline = self.cleaned_data.get("deadline")
        problems = deadline_problems(deadline.total_seconds() if deadline is not None else None)
        if problems:
            raise ValidationError(problems[0].message)
        return deadline


@admin.register(WorkflowDefinition)
class WorkflowDefinitionAdmin(admin.ModelAdmin):
    form = WorkflowDefinitionForm
    list_display = ["name", "version", "status", "step_count", "process_count", "frozen_at", "updated_at"]
    list_display_links = ["name", "version"]
    list_filter = ["status", "name"]
    search_fields = ["name", "description"]
    readonly_fields = ["status", "frozen_at", "graph", "processes"]
    fields = [
        "name",
        "version",
        "description",
        "deadline",
        "deadline_reason",
        "signals",
        "status",
        "frozen_at",
        "graph",
        "processes",
    ]
    inlines = [StepInline]
    actions = ["new_version", "activate", "retire", "export_json"]
    change_list_template = "admin/orchestrator/workflowdefinition/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowDefinition]:
        return super().get_queryset(request).annotate(_steps=Count("steps", distinct=True))

    @admin.display(description="steps")
    def step_count(self, obj: WorkflowDefinition) -> int:
        return getattr(obj, "_steps", obj.steps.count())

    @admin.display(description="processes")
    def process_count(self, obj: WorkflowDefinition) -> int:
        return obj.instances.count()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A version that processes run on never changes; make a new version instead.
        return not _frozen(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _frozen(obj) and super().has_delete_permission(request, obj)

    def has_activate_permission(self, request: HttpRequest) -> bool:
        """Activating or retiring changes what new processes run: the "change" permission."""
        return bool(request.user.has_perm("orchestrator.change_workflowdefinition"))

    @admin.display(description="Graph")
    def graph(self, obj: WorkflowDefinition) -> SafeString:
        if obj.pk is None or not obj.steps.exists():
            return mark_safe("<p>Save the steps to see the graph.</p>")
        layout = graph_layout(definition_compile(obj))
        html = render_to_string("orchestrator/_step_graph.html", {"graph": layout, "definition": obj})
        return mark_safe(f'<div class="admin-graph">{html}</div>')  # our own template, escaped inside

    @admin.display(description="Processes on this version")
    def processes(self, obj: WorkflowDefinition) -> SafeString:
        if obj.pk is None:
            return mark_safe("—")
        counts = Counter(dict(obj.instances.values_list("status").annotate(n=Count("id")).order_by()))
        if not counts:
            return mark_safe("none yet")
        base = reverse("dashboard:processes")
        return format_html_join(
            " · ",
            '<a href="{}?workflow={}&version={}&status={}">{} {}</a>',
            (
                (base, obj.name, obj.version, status, counts[status], ProcessStatus(status).label.lower())
                for status in ProcessStatus.values
                if counts.get(status)
            ),
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        kept = kept_steps(definition_compile(obj), declared_commands()) if obj is not None else []
        if kept and request.method == "GET":
            messages.warning(
                request,
                f"What {', '.join(kept)} did is kept when a process compensates: its command declares an "
                "undo that this version does not send.",
            )
        if obj is not None and obj.frozen_at is not None:
            messages.info(
                request,
                f"{obj} has processes and cannot change. Use the action 'New version' to edit a copy, "
                "then 'Activate' it: running processes keep the version they started with.",
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="New version (a draft copy to edit)", permissions=["add"])
    def new_version(self, request: HttpRequest, queryset: QuerySet[WorkflowDefinition]) -> None:
        for definition in queryset:
            copy = definition_new_version(definition)
            self.message_user(request, f"{copy} created as a draft from {definition}.", messages.SUCCESS)

    @admin.action(description="Activate (new processes use this version)", permissions=["activate"])
    def activate(self, request: HttpRequest, queryset: QuerySet[WorkflowDefinition]) -> None:
        if len({d.name for d in queryset}) != queryset.count():
            self.message_user(request, "Choose one version per workflow to activate.", messages.ERROR)
            return
        for definition in queryset:
            try:
                definition_activate(definition)
            except InvalidDefinition as invalid:
                self.message_user(request, f"{definition} cannot be activated: {invalid}", messages.ERROR)
            else:
                self.message_user(request, f"{definition} is now the active version.", messages.SUCCESS)

    @admin.action(description="Retire (no new processes; running ones finish)", permissions=["activate"])
    def retire(self, request: HttpRequest, queryset: QuerySet[WorkflowDefinition]) -> None:
        for definition in queryset:
            definition_retire(definition)
        self.message_user(request, f"Retired {queryset.count()} version(s).", messages.SUCCESS)

    @admin.action(description="Export as JSON")
    def export_json(self, request: HttpRequest, queryset: QuerySet[WorkflowDefinition]) -> HttpResponse:
        response = HttpResponse(workflows_export(list(queryset)), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="workflows.json"'
        return response

    def get_urls(self) -> list[Any]:
        extra = [
            path("import/", self.admin_site.admin_view(self.import_view), name="orchestrator_workflow_import")
        ]
        return extra + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        rights = ImportRights(
            add=self.has_add_permission(request), change=self.has_activate_permission(request)
        )
        if not (rights.add or rights.change):
            return HttpResponse("You may not import workflows.", status=403)
        problems: list[str] = []
        if request.method == "POST":
            upload = request.FILES.get("file")
            if upload is None:
                problems = ["Choose a JSON file."]
            else:
                try:
                    done = workflows_import(upload.read().decode("utf-8", errors="replace"), rights=rights)
                except ImportRefused as refused:
                    problems = refused.problems
                else:
                    for line in done:
                        self.message_user(request, line, messages.SUCCESS)
                    return redirect("admin:orchestrator_workflowdefinition_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Import workflows",
            "problems": problems,
            "opts": self.model._meta,
        }
        return render(request, "admin/orchestrator/workflowdefinition/import.html", context)
