"""The HTTP API: bookings, processes and their history, operator actions, fault settings.

Each endpoint checks the same permission as the dashboard, then calls the same service
functions; errors come back as JSON `{"detail": ..., "errors": [...]}`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Header, Query, Router, Schema, Status
from ninja.errors import HttpError

from api import schemas
from api.auth import needs, require
from booking.bookings import DEFAULT_WORKFLOW, IdempotencyConflict, booking_create_once
from booking.faults import faults_of, faults_set
from booking.ledger import ledger_details
from booking.models import Booking, ServiceFaults
from booking.services.registry import UnknownService, service_get
from orchestrator.actions import ACTIONS, VIEW_PERMISSION, ActionName, ActionNotAllowed
from orchestrator.definitions import definition_for_run
from orchestrator.models import ProcessInstance
from orchestrator.processes import (
    ProcessNotFound,
    SignalInvalid,
    SignalRefused,
    SignalUndeclared,
    WorkflowNotFound,
    operator_act,
    process_start,
    signal_take,
)
from orchestrator.selectors import process_page, processes_matching, state_of

router = Router()
Errors = {code: schemas.ErrorOut for code in (400, 401, 403, 404, 409, 413, 422)}


class Conflict(Exception):
    """A 409: the request does not fit the current state."""


class NotFound(Exception):
    """A 404 with a reason."""


# A request that must be taken once: the caller's key for it, sent as a header.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _idempotency_key(sent: str | None, why: str) -> str:
    """The Idempotency-Key sent, or 400 saying why the route needs one."""
    key = (sent or "").strip()
    if not key:
        raise HttpError(400, f"Send an Idempotency-Key header{why}")
    return key


# --- bookings --------------------------------------------------------------------------------


def _booking_out(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.pk,
        "reference": booking.reference,
        "process_id": booking.process_id,
        "status": booking.process.status if booking.process else None,
    }


@router.post(
    "/bookings",
    response={200: schemas.BookingOut, 201: schemas.BookingOut, **Errors},
    tags=["bookings"],
    auth=needs("booking.add_booking"),
)
def create_booking(
    request: HttpRequest,
    payload: schemas.BookingIn,
    idempotency_key: IdempotencyKey = None,
) -> Status[dict[str, Any]]:
    """Book a trip: records the booking and starts its process. The `Idempotency-Key` header is
    required: sending the same request again with it (even at the same moment, even after a
    timeout) returns the same booking, with 200, instead of booking and charging twice."""
    key = _idempotency_key(
        idempotency_key,
        " (say, your order number): a retry with the same key returns the same booking instead of "
        "booking and charging again.",
    )
    fields = payload.model_dump(mode="json")
    fields["itinerary"] = {k: v for k, v in fields["itinerary"].items() if v is not None}
    fields["amount"] = Decimal(fields["amount"])
    fields["workflow"] = fields.get("workflow") or DEFAULT_WORKFLOW
    fingerprint = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
    try:
        booking, created = booking_create_once(owner=request.user, key=key, fingerprint=fingerprint, **fields)
    except IdempotencyConflict as conflict:
        raise Conflict(str(conflict)) from None
    except WorkflowNotFound as missing:
        raise Conflict(str(missing)) from None
    return Status(201 if created else 200, _booking_out(booking))


@router.get(
    "/bookings/{booking_id}",
    response={200: schemas.BookingDetailOut, **Errors},
    tags=["bookings"],
    auth=needs("booking.view_booking"),
)
def get_booking(request: HttpRequest, booking_id: uuid.UUID) -> dict[str, Any]:
    """A booking, its process's status, and what each service really did for it."""
    booking = get_object_or_404(Booking.objects.select_related("process"), pk=booking_id)
    return {
        **_booking_out(booking),
        "customer_name": booking.customer_name,
        "customer_email": booking.customer_email,
        "itinerary": booking.itinerary,
        "amount": str(booking.amount),
        "currency": booking.currency,
        "workflow": booking.workflow,
        "created_at": booking.created_at,
        "ledger": ledger_details(booking),
    }


# --- processes -------------------------------------------------------------------------------


# What a summary reads: a page of them leaves the state, input and the definition's body unread
# (decoding those JSON columns was most of a list request's time).
SUMMARY_FIELDS = (
    "id",
    "workflow_name",
    "definition__version",
    "status",
    "business_key",
    "created_at",
    "updated_at",
    "ended_at",
)


def _summary(process: ProcessInstance) -> dict[str, Any]:
    return {
        "id": process.pk,
        "workflow": process.workflow_name,
        "version": process.definition.version,
        "status": process.status,
        "business_key": process.business_key,
        "created_at": process.created_at,
        "updated_at": process.updated_at,
        "ended_at": process.ended_at,
    }


def _process_out(process: ProcessInstance) -> dict[str, Any]:
    state = state_of(process)
    # In the definition's order: the snapshot's JSON keys have none on PostgreSQL (jsonb).
    order = [spec.key for spec in definition_for_run(process.definition).steps]
    steps = [
        {
            "key": key,
            "status": st.status.value,
            "attempts": st.attempt,
            "in_doubt": st.in_doubt,
            "waiting_for_operator": st.awaiting_operator or st.status.waits_for_operator_undo,
            "next_retry_at": st.retry_at,
            "times_out_at": st.deadline_at,
            "last_error": st.last_error,
        }
        for key, st in ((key, state.steps[key]) for key in order)
    ]
    return {**_summary(process), "input": process.input, "context": process.context, "steps": steps}


@router.post(
    "/processes",
    response={200: schemas.ProcessOut, 201: schemas.ProcessOut, **Errors},
    tags=["processes"],
    auth=needs("orchestrator.add_processinstance"),
)
def start_process(request: HttpRequest, payload: schemas.ProcessIn) -> Status[dict[str, Any]]:
    """Start a process on the active version of a workflow; a known business key returns the
    existing process with 200."""
    try:
        process, created = process_start(
            workflow=payload.workflow,
            business_key=payload.business_key,
            input=payload.input,
            actor=request.user.get_username(),
        )
    except WorkflowNotFound as missing:
        raise Conflict(str(missing)) from None
    if not created:
        # It shows an existing process's data: only to whom may read processes.
        require(request, VIEW_PERMISSION)
    process = ProcessInstance.objects.select_related("definition").get(pk=process.pk)
    return Status(201 if created else 200, _process_out(process))


@router.get(
    "/processes",
    response={200: schemas.ProcessPage, **Errors},
    tags=["processes"],
    auth=needs(VIEW_PERMISSION),
)
def list_processes(request: HttpRequest, query: Query[schemas.ProcessQuery]) -> dict[str, Any]:
    """Processes, newest first, filtered; follow `next_cursor` for the next page."""
    page = process_page(processes_matching(query.to_filters()).only(*SUMMARY_FIELDS), cursor=query.cursor)
    return {"items": [_summary(p) for p in page.rows], "next_cursor": page.next_cursor}


@router.get(
    "/processes/{process_id}",
    response={200: schemas.ProcessOut, **Errors},
    tags=["processes"],
    auth=needs(VIEW_PERMISSION),
)
def get_process(request: HttpRequest, process_id: uuid.UUID) -> dict[str, Any]:
    return _process_out(
        get_object_or_404(ProcessInstance.objects.select_related("definition"), pk=process_id)
    )


class EventFilters(Schema):
    after: int = 0
    limit: int = 100


@router.get(
    "/processes/{process_id}/events",
    response={200: schemas.EventPage, **Errors},
    tags=["processes"],
    auth=needs(VIEW_PERMISSION),
)
def list_events(request: HttpRequest, process_id: uuid.UUID, page: Query[EventFilters]) -> dict[str, Any]:
    """The history, oldest first: events after `after` (a seq); `next_cursor` is the next `after`."""
    process = get_object_or_404(ProcessInstance, pk=process_id)
    limit = min(max(page.limit, 1), 500)
    rows = list(process.events.filter(seq__gt=max(page.after, 0)).order_by("seq")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "seq": r.seq,
            "type": r.type,
            "step": r.step,
            "attempt": r.attempt,
            "actor": r.actor,
            "reason": r.reason,
            "note": r.note,
            "payload": r.payload,
            "at": r.created_at,
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": rows[-1].seq if more else None}


def _action_permission(request: HttpRequest) -> str | None:
    """The permission of the action the path names (an unknown one is refused by the path's schema)."""
    match = request.resolver_match
    action = ACTIONS.get(match.kwargs.get("action", "")) if match else None
    return action.permission if action else None


@router.post(
    "/processes/{process_id}/actions/{action}",
    response={202: schemas.ActionOut, **Errors},
    tags=["processes"],
    auth=needs(_action_permission),
)
def act(
    request: HttpRequest, process_id: uuid.UUID, action: ActionName, payload: schemas.ActionIn
) -> Status[dict[str, Any]]:
    """An operator action, through the engine, recorded with the caller as actor and the reason.
    It needs the action's own permission (which the engine checks again)."""
    try:
        process = operator_act(
            process_id=str(process_id),
            action=action,
            user=request.user,
            reason=payload.reason,
            step=payload.step,
            output=payload.output,
        )
    except ProcessNotFound:
        raise NotFound(f"no process {process_id}") from None
    except ActionNotAllowed as refused:
        raise Conflict(str(refused)) from None
    process.refresh_from_db(fields=["status"])
    return Status(202, {"process_id": process.pk, "status": process.status})


@router.post(
    "/processes/{process_id}/signals/{name}",
    response={200: schemas.SignalOut, 202: schemas.SignalOut, **Errors},
    tags=["processes"],
    auth=needs("orchestrator.signal_process"),
)
def send_signal(
    request: HttpRequest,
    process_id: uuid.UUID,
    name: str,
    payload: schemas.SignalIn,
    idempotency_key: IdempotencyKey = None,
) -> Status[dict[str, Any]]:
    """A signal from outside (a confirmation, a customer's request) for a process that waits for
    it, recorded in its history with the caller as actor. Its data is checked against the schema
    the workflow declares (422 naming the field); a signal the workflow does not declare is 422, and
    one the process cannot take now (it has ended, nothing waits for it) 409, with the reason.
    The `Idempotency-Key` header is required: the same key again answers the first result, 200."""
    key = _idempotency_key(idempotency_key, ": a retry with the same key is taken once.")
    try:
        taken = signal_take(
            process_id=str(process_id),
            name=name,
            data=payload.data,
            key=key,
            actor=request.user.get_username(),
        )
    except ProcessNotFound:
        raise NotFound(f"no process {process_id}") from None
    except (SignalUndeclared, SignalInvalid) as refused:
        raise HttpError(422, str(refused)) from None
    except SignalRefused as refused:
        raise Conflict(str(refused)) from None
    taken.process.refresh_from_db(fields=["status"])
    body = {
        "process_id": taken.process.pk,
        "signal": name,
        "seq": taken.seq,
        "note": taken.note,
        "repeated": taken.repeated,
        "status": taken.process.status,
    }
    return Status(200 if taken.repeated else 202, body)


# --- fault settings --------------------------------------------------------------------------


def _declared(name: str) -> str:
    """A declared service's name (404 otherwise: the OpenAPI schema lists them, see api.api)."""
    try:
        return service_get(name).name
    except UnknownService as unknown:
        raise NotFound(str(unknown)) from None


def _faults_out(faults: ServiceFaults) -> dict[str, Any]:
    return {
        "service": faults.service,
        "technical_rate": faults.technical_rate,
        "business_rate": faults.business_rate,
        "latency_ms": faults.latency_ms,
        "outage": faults.outage,
        "seed": faults.seed,
    }


@router.get(
    "/services/{name}/faults",
    response={200: schemas.FaultsOut, **Errors},
    tags=["services"],
    auth=needs("booking.view_servicefaults"),
)
def get_faults(request: HttpRequest, name: str) -> dict[str, Any]:
    return _faults_out(faults_of(_declared(name)))


@router.put(
    "/services/{name}/faults",
    response={200: schemas.FaultsOut, **Errors},
    tags=["services"],
    auth=needs("booking.change_servicefaults"),
)
def put_faults(request: HttpRequest, name: str, payload: schemas.FaultsIn) -> dict[str, Any]:
    """Replace a service's fault settings; workers read them for their next command."""
    values = payload.model_dump()
    faults = faults_set(
        _declared(name),
        **{k: v for k, v in values.items() if k != "seed"},
        seed=values["seed"],
        clear_seed=values["seed"] is None,
    )
    return _faults_out(faults)
