"""The customer's side: a booking form (no login) and that booking's progress, live.

The progress page's address carries a signed token of the booking: a customer sees their
booking and nobody else's, and cannot guess another one's address.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import date, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from booking.bookings import DEFAULT_WORKFLOW, IdempotencyConflict, booking_create_once
from booking.models import Booking
from booking.services.declaration import Service
from booking.services.registry import service_of_command
from booking.throttle import over_limit
from booking.trip import CATALOGUE
from config.http import client_address
from orchestrator.definitions import definition_active, definition_for_run, kept_steps_of
from orchestrator.engine.types import Definition
from orchestrator.processes import WorkflowNotFound
from orchestrator.selectors import state_of
from orchestrator.status import ProcessStatus, StepPhase, StepStatus

logger = logging.getLogger(__name__)
SALT = "booking.checkout"


class CheckoutForm(forms.Form):
    # One per form shown: a double click or a resubmit books once.
    nonce = forms.UUIDField(widget=forms.HiddenInput)
    customer_name = forms.CharField(label="Your name", max_length=200)
    customer_email = forms.EmailField(label="Your e-mail")
    trip = forms.ChoiceField(choices=[(t.code, f"{t.title} — {t.price} {t.currency}") for t in CATALOGUE])
    depart_on = forms.DateField(label="Departure", widget=forms.DateInput(attrs={"type": "date"}))

    def clean_depart_on(self) -> date:
        day: date = self.cleaned_data["depart_on"]
        if day < timezone.localdate() + timedelta(days=1):
            raise forms.ValidationError("Choose a day from tomorrow on.")
        return day


def status_token(booking: Booking) -> str:
    return signing.dumps(str(booking.pk), salt=SALT)


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    form = CheckoutForm(request.POST or None, initial={"nonce": uuid.uuid4()})
    if request.method == "POST":
        if over_limit(
            f"checkout:{client_address(request) or 'unknown'}", limit=settings.CHECKOUT_BOOKINGS_PER_MINUTE
        ):
            return _form_page(request, form, 429, "Too many bookings from here; try again in a minute.")
        if form.is_valid():
            data = form.cleaned_data
            trip = next(t for t in CATALOGUE if t.code == data["trip"])
            fields = {
                "customer_name": data["customer_name"],
                "customer_email": data["customer_email"],
                "itinerary": trip.itinerary(data["depart_on"]),
                "amount": trip.price,
                "currency": trip.currency,
            }
            fingerprint = hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()
            try:
                booking, _ = booking_create_once(
                    owner=None, key=f"checkout:{data['nonce']}", fingerprint=fingerprint, **fields
                )
            except IdempotencyConflict:
                fresh = CheckoutForm(initial={"nonce": uuid.uuid4()})
                error = "That form was already sent with other details; please check and send again."
                return _form_page(request, fresh, 409, error)
            except WorkflowNotFound:
                logger.error("checkout: the %r workflow has no active version", DEFAULT_WORKFLOW)
                return _form_page(request, form, 503, "Booking is closed for a moment; try again later.")
            return redirect("booking:status", token=status_token(booking))
    return _form_page(request, form, 422 if form.errors else 200)


def _form_page(request: HttpRequest, form: CheckoutForm, status: int, error: str = "") -> HttpResponse:
    context = {"form": form, "error": error, "includes": _what_a_booking_includes()}
    return render(request, "booking/checkout.html", context, status=status)


def _what_a_booking_includes() -> str:
    """What the shop's workflow does, in the words of the services that do it (their labels)."""
    definition = definition_active(DEFAULT_WORKFLOW)
    if definition is None:
        return ""
    labels = [service.label for _, service in customer_steps(definition_for_run(definition)) if service]
    labels = list(dict.fromkeys(labels))
    labels[1:] = [label[:1].lower() + label[1:] for label in labels[1:]]
    return " and ".join([", ".join(labels[:-1]), labels[-1]]) if len(labels) > 1 else "".join(labels)


class LinkExpired(Exception):
    pass


def _booking(token: str) -> Booking:
    try:
        booking_id = signing.loads(token, salt=SALT, max_age=timedelta(days=settings.CHECKOUT_LINK_DAYS))
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise Http404("no such booking") from None
    booking = Booking.objects.select_related("process__definition").filter(pk=booking_id).first()
    if booking is None or booking.process is None:
        raise Http404("no such booking")
    return booking


UNDONE = "Everything was undone; anything charged is refunded."
KEPT = "Not everything could be undone automatically: our team will contact you about what remains."


def customer_steps(definition: Definition) -> list[tuple[str, Service | None]]:
    """The steps a customer follows (the main ones: not the undoing's e-mail), each with the
    service that carries it out (None for a command no service declares any more)."""
    return [
        (spec.key, service_of_command(spec.command))
        for spec in definition.steps
        if spec.phase == StepPhase.MAIN
    ]


def progress(booking: Booking) -> dict[str, Any]:
    """The saga in the customer's words, from the words each service declares."""
    assert booking.process is not None
    state = state_of(booking.process)
    definition = definition_for_run(booking.process.definition)
    lines = []
    for key, service in customer_steps(definition):
        st = state.steps[key]
        label = service.label if service else key.replace("_", " ").capitalize()
        if st.status.is_done:
            output = state.context.get(key, {})
            lines.append((label, "done", service.done_text(output) if service else "done"))
        elif st.status == StepStatus.COMPENSATED:
            lines.append((label, "undone", service.undone if service else "undone"))
        elif st.status.is_at_work:
            lines.append((label, "working", "undoing…" if st.status.is_compensation else "in progress…"))
        elif st.status == StepStatus.FAILED and st.refused:
            lines.append((label, "failed", st.last_error or "refused"))
        elif st.status in (StepStatus.FAILED, StepStatus.COMPENSATION_FAILED):
            lines.append((label, "waiting", "we are on it: someone from our team is looking at it"))
        else:
            lines.append((label, "pending", ""))
    status = booking.process.status
    # A step the workflow keeps on purpose (say, a fee) was not undone: do not promise otherwise.
    kept = [key for key in kept_steps_of(definition) if state.steps[key].status.is_done]
    undone = KEPT if kept else UNDONE
    return {
        "lines": lines,
        "status": status,
        "ended": ProcessStatus(status).is_terminal,
        "headline": {
            ProcessStatus.COMPLETED: "Your trip is booked. Have a good journey!",
            ProcessStatus.COMPENSATED: f"We could not book your trip. {undone}",
            ProcessStatus.CANCELLED: f"Your booking was cancelled. {undone}",
            # Ended by our team without the usual undo: they settle what was done with you.
            ProcessStatus.TERMINATED: "Our team has closed this booking and will contact you about it.",
            ProcessStatus.WAITING: "This is taking longer than usual: our team has been told and is on it.",
        }.get(ProcessStatus(status), "We are booking your trip…"),
    }


@require_GET
def status(request: HttpRequest, token: str) -> HttpResponse:
    days = settings.CHECKOUT_LINK_DAYS
    try:
        booking = _booking(token)
    except LinkExpired:
        response = render(request, "booking/expired.html", {"link_days": days}, status=410)
    else:
        template = "booking/_progress.html" if request.htmx else "booking/status.html"  # type: ignore[attr-defined]
        context = {"booking": booking, "token": token, "link_days": days, **progress(booking)}
        response = render(request, template, context)
    # A booking's page is for its customer, not for search engines (the address is the key).
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
