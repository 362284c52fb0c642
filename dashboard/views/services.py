"""The services page: fault settings to simulate trouble, and gentle demo traffic."""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from booking.faults import faults_all, faults_of
from booking.models import DemoTraffic, ServiceFaults
from booking.services.declaration import Service
from booking.services.registry import UnknownService, service_get
from booking.traffic import demo_traffic_get, demo_traffic_set
from dashboard.actions import FAULTS_PERMISSION
from dashboard.views.access import dashboard_view, require_permission


class FaultsForm(forms.ModelForm):
    class Meta:
        model = ServiceFaults
        fields = ["technical_rate", "business_rate", "latency_ms", "outage", "seed"]
        widgets = {
            "technical_rate": forms.NumberInput(attrs={"step": "0.05", "min": 0, "max": 1}),
            "business_rate": forms.NumberInput(attrs={"step": "0.05", "min": 0, "max": 1}),
            "latency_ms": forms.NumberInput(attrs={"step": "100", "min": 0}),
        }


class TrafficForm(forms.ModelForm):
    class Meta:
        model = DemoTraffic
        fields = ["enabled", "every_seconds"]


def _rows(request: HttpRequest) -> list[tuple[ServiceFaults, FaultsForm, Service]]:
    return [
        (faults, FaultsForm(instance=faults, prefix=faults.service), service_get(faults.service))
        for faults in faults_all()
    ]


@require_GET
@dashboard_view
def services(request: HttpRequest) -> HttpResponse:
    require_permission(request, "booking.view_servicefaults")
    context = {
        "rows": _rows(request),
        "traffic": demo_traffic_get(),
        "may_change": request.user.has_perm(FAULTS_PERMISSION),
        "nav": "services",
    }
    return render(request, "dashboard/services.html", context)


@require_POST
@dashboard_view
def faults_save(request: HttpRequest, service: str) -> HttpResponse:
    require_permission(request, FAULTS_PERMISSION)
    try:
        faults = faults_of(service)
    except UnknownService:
        raise Http404("no such service") from None
    form = FaultsForm(request.POST, instance=faults, prefix=service)
    saved = form.is_valid()
    if saved:
        form.save()
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("dashboard:services")
    context = {
        "faults": faults,
        "form": form,
        "service": service_get(service),
        "may_change": True,
        "saved": saved,
    }
    return render(request, "dashboard/_faults_row.html", context, status=200 if saved else 422)


@require_POST
@dashboard_view
def traffic_save(request: HttpRequest) -> HttpResponse:
    require_permission(request, FAULTS_PERMISSION)
    form = TrafficForm(request.POST, instance=demo_traffic_get())
    if form.is_valid():
        demo_traffic_set(
            enabled=form.cleaned_data["enabled"], every_seconds=form.cleaned_data["every_seconds"]
        )
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("dashboard:services")
    context = {"traffic": demo_traffic_get(), "may_change": True, "errors": form.errors}
    return render(request, "dashboard/_traffic.html", context, status=200 if form.is_valid() else 422)
