"""The process list's filters and search, read from the query string into the engine's
`ProcessFilters` (orchestrator.selectors does the filtering)."""

from __future__ import annotations

import contextlib
from typing import Any

from django import forms
from django.db.models import QuerySet

from orchestrator.models import ProcessInstance
from orchestrator.selectors import ProcessFilters, processes_matching, search_hints
from orchestrator.status import ProcessStatus


class ProcessFilter(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *ProcessStatus.choices])
    workflow = forms.CharField(required=False, max_length=100)
    version = forms.IntegerField(required=False, min_value=1)
    step = forms.SlugField(required=False, max_length=64, label="Current step")
    created_after = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    created_before = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    failing = forms.BooleanField(
        required=False, label="Failing now", help_text="Retrying, in doubt or waiting for an operator"
    )
    had_retries = forms.BooleanField(required=False, label="Had retries (attempt > 1)")
    in_doubt = forms.BooleanField(required=False, label="In doubt")
    waiting = forms.BooleanField(required=False, label="Waiting for an operator")
    q = forms.CharField(required=False, max_length=200, label="Search")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        status = self.data.get("status")
        if status and status not in ProcessStatus.values:
            with contextlib.suppress(ValueError):  # a bookmark of a status's former name
                fields = {name: self.data.get(name) for name in self.data}
                self.data = {**fields, "status": ProcessStatus.read(status).value}
        # Whatever the declared services' business keys are today.
        self.fields["q"].widget.attrs["placeholder"] = ", ".join(search_hints())

    FIELDS_IN_URL = (
        "status",
        "workflow",
        "version",
        "step",
        "created_after",
        "created_before",
        "failing",
        "had_retries",
        "in_doubt",
        "waiting",
        "q",
    )

    def to_filters(self) -> ProcessFilters:
        """The engine's filters from the valid fields (invalid ones are ignored and shown as errors)."""
        self.is_valid()  # fills cleaned_data with the fields that are valid
        data: dict[str, Any] = getattr(self, "cleaned_data", {})
        return ProcessFilters(
            status=ProcessStatus(data["status"]) if data.get("status") else None,
            workflow=data.get("workflow") or "",
            version=data.get("version"),
            step=data.get("step") or "",
            created_after=data.get("created_after"),
            created_before=data.get("created_before"),
            failing=bool(data.get("failing")),
            had_retries=bool(data.get("had_retries")),
            in_doubt=bool(data.get("in_doubt")),
            waiting=bool(data.get("waiting")),
            q=data.get("q") or "",
        )

    def filter(self, queryset: QuerySet[ProcessInstance]) -> QuerySet[ProcessInstance]:
        """The processes of `queryset` matching the valid filters."""
        return processes_matching(self.to_filters(), queryset)

    def describe(self) -> str:
        """The active filters in words, e.g. for a bulk action's record."""
        if not self.is_valid():
            return "the processes matching filters that are not valid"
        parts = []
        for name in self.FIELDS_IN_URL:
            value = self.cleaned_data.get(name)
            field = self.fields[name]
            label = str(field.label or name.replace("_", " ").capitalize())
            if value is True:
                parts.append(label)
            elif value not in (None, "", False):
                shown = dict(getattr(field, "choices", ())).get(value, value)
                parts.append(f"{label.lower()}: {shown}")
        return ", ".join(parts) or "all processes"
