"""The process list's filters and search, read from the query string."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from orchestrator.models import ProcessInstance
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
    retrying = forms.BooleanField(required=False, label="Retrying (attempt > 1)")
    in_doubt = forms.BooleanField(required=False, label="In doubt")
    waiting = forms.BooleanField(required=False, label="Waiting for an operator")
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.TextInput(
            attrs={"placeholder": "reference, e-mail, payment id, PNR, hotel confirmation, process id"}
        ),
    )

    FIELDS_IN_URL = (
        "status",
        "workflow",
        "version",
        "step",
        "created_after",
        "created_before",
        "retrying",
        "in_doubt",
        "waiting",
        "q",
    )

    def filter(self, queryset: QuerySet[ProcessInstance]) -> QuerySet[ProcessInstance]:
        """The processes matching the valid filters (invalid ones are ignored and shown as errors)."""
        self.is_valid()  # fills cleaned_data with the fields that are valid
        data: dict[str, Any] = getattr(self, "cleaned_data", {})
        if status := data.get("status"):
            queryset = queryset.filter(status=status)
        if workflow := data.get("workflow"):
            queryset = queryset.filter(workflow_name=workflow)
        if version := data.get("version"):
            queryset = queryset.filter(definition__version=version)
        if step := data.get("step"):
            queryset = queryset.filter(active_steps__contains=f",{step},")
        if after := data.get("created_after"):
            queryset = queryset.filter(created_at__gte=after)
        if before := data.get("created_before"):
            queryset = queryset.filter(created_at__lt=before)
        if data.get("retrying"):
            queryset = queryset.filter(max_attempt__gt=1)
        if data.get("in_doubt"):
            queryset = queryset.filter(in_doubt=True)
        if data.get("waiting"):
            queryset = queryset.filter(status=ProcessStatus.FAILED)
        if q := (data.get("q") or "").strip():
            queryset = queryset.filter(search_condition(q))
        return queryset

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


def search_condition(q: str) -> Q:
    """One box for everything an operator may have at hand when a customer calls."""
    condition = (
        Q(business_key__iexact=q)
        | Q(booking__reference__iexact=q)
        | Q(booking__customer_email__iexact=q)
        | Q(context__payment__payment_id=q)
        | Q(context__flight__pnr=q.upper())
        | Q(context__hotel__confirmation=q.upper())
    )
    with contextlib.suppress(ValueError):
        condition |= Q(pk=uuid.UUID(q))
    return condition
