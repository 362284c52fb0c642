"""A rehearsed trip as COPY rows with format fields, filled in once per seeded process.

Each table's rows become one `str.format_map` template in PostgreSQL's COPY text format: the
placeholders `@@NAME@@`, the rehearsal's process id and every time (an offset from T0) become
fields (`{REFERENCE}`, `{PROCESS_ID}`, `{T1520000}`), so stamping a process out is a handful of
`format_map` calls, with no JSON encoding per row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models

from booking.models import Booking, Charge, Notification, Refund, Reservation
from booking.seeding.trips import (
    PROCESS_ID,
    T0,
    TRIP_INPUT,
    RehearsedTrip,
    ServiceRecord,
    placeholder,
    reservation_code,
)
from orchestrator.keys import keys_of
from orchestrator.models import HistoryEntry, ProcessInstance, ProcessKey
from orchestrator.snapshots import SNAPSHOT_COLUMNS
from orchestrator.status import ProcessStatus


@dataclass(frozen=True)
class Table:
    """A table the seed writes, and the columns of its COPY rows."""

    model: type[models.Model]
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    def copy_statement(self) -> str:
        columns = ", ".join(f'"{column}"' for column in self.columns)
        return f'COPY "{self.name}" ({columns}) FROM STDIN'


_RECORD = ("key", "process_id", "booking_reference", "created_at", "updated_at", "status")
# In the order they are written (each batch is one transaction: the foreign keys are checked at commit).
TABLES = {
    "processes": Table(
        ProcessInstance,
        (
            "id",
            "workflow_name",
            "business_key",
            "input",
            "created_at",
            "updated_at",
            "definition_id",
            *SNAPSHOT_COLUMNS,
        ),
    ),
    "keys": Table(ProcessKey, ("process_id", "step", "name", "value")),
    "bookings": Table(
        Booking,
        (
            "id",
            "reference",
            "customer_name",
            "customer_email",
            "itinerary",
            "amount",
            "currency",
            "workflow",
            "created_at",
            "process_id",
            "idempotency_scope",
            "idempotency_key",
            "request_fingerprint",
        ),
    ),
    "history": Table(
        HistoryEntry,
        (
            "seq",
            "message_id",
            "type",
            "step",
            "attempt",
            "payload",
            "actor",
            "reason",
            "note",
            "created_at",
            "process_id",
        ),
    ),
    "charges": Table(Charge, ("id", *_RECORD, "payment_id", "amount", "currency")),
    "refunds": Table(Refund, ("charge_id", "refund_id", "amount", "currency", "created_at")),
    "reservations": Table(Reservation, (*_RECORD, "service", "cancelled_at", "code", "details")),
    "notifications": Table(Notification, ("id", *_RECORD, "template", "to", "subject", "body")),
}

_PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")
# Times are written with microseconds, as the engine writes them; offsets from T0 up to 28 days.
_FIELD = re.compile(
    r"@@(?P<name>[A-Z0-9_]+)@@|(?P<pid>"
    + re.escape(PROCESS_ID)
    + r")|2000-01-(?P<d>\d\d)T(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?:\.(?P<f>\d{6}))?\+00:00"
)


def time_field(offset_micros: int) -> str:
    return f"T{offset_micros}"


@dataclass(frozen=True)
class TripTemplate:
    """One rehearsed trip, ready to be stamped out."""

    workflow: str
    status: ProcessStatus
    rows: dict[str, str]  # table key -> format template of its rows (each ending in a newline)
    row_counts: dict[str, int]
    fields: frozenset[str]  # every field its rows use
    times: tuple[int, ...]  # offsets from T0 in microseconds, of the time fields
    span: float  # seconds from the booking to the last event


def template_build(trip: RehearsedTrip, definition_id: int) -> TripTemplate:
    """The COPY rows of one rehearsed trip, as format templates."""
    rehearsal = trip.rehearsal
    last = rehearsal.history[-1].event.at
    rows: dict[str, list[list[Any]]] = {key: [] for key in TABLES}
    columns = rehearsal.columns()
    rows["processes"].append(
        [
            PROCESS_ID,
            trip.workflow,
            placeholder("REFERENCE"),
            TRIP_INPUT,
            T0 + timedelta(milliseconds=2),
            last + timedelta(milliseconds=1),
            definition_id,
            *(columns[name] for name in SNAPSHOT_COLUMNS),
        ]
    )
    for key in keys_of(rehearsal.definition, columns["context"]):
        # Stamped values are upper-cased like every key (orchestrator.keys): KEY_<placeholder>.
        rows["keys"].append([PROCESS_ID, key.step, key.name, _PLACEHOLDER.sub(r"@@KEY_\1@@", key.value)])
    rows["bookings"].append(
        [
            placeholder("BOOKING_ID"),
            placeholder("REFERENCE"),
            placeholder("NAME"),
            placeholder("EMAIL"),
            TRIP_INPUT["itinerary"],
            placeholder("AMOUNT"),
            placeholder("CURRENCY"),
            trip.workflow,
            T0,
            PROCESS_ID,
            "",
            "",
            "",
        ]
    )
    for entry in rehearsal.history:
        event = entry.event
        rows["history"].append(
            [
                entry.seq,
                event.message_id,
                event.type,
                event.step or "",
                event.attempt,
                event.payload,
                event.actor,
                event.reason,
                entry.note,
                event.at,
                PROCESS_ID,
            ]
        )
    for record in trip.records:
        _record_rows(rows, record)
    fields: set[str] = set()
    texts = {key: "".join(_format(_copy_line(row), fields) for row in table) for key, table in rows.items()}
    times = tuple(sorted(int(name[1:]) for name in fields if _is_time(name)))
    return TripTemplate(
        workflow=trip.workflow,
        status=ProcessStatus(columns["status"]),
        rows={key: text for key, text in texts.items() if text},
        row_counts={key: len(table) for key, table in rows.items() if table},
        fields=frozenset(name for name in fields if not _is_time(name)),
        times=times,
        span=(last - T0).total_seconds(),
    )


def _record_rows(rows: dict[str, list[list[Any]]], record: ServiceRecord) -> None:
    key = f"{PROCESS_ID}:{record.step}"
    created = T0 + timedelta(seconds=record.created)
    updated = T0 + timedelta(seconds=record.updated)
    undone = T0 + timedelta(seconds=record.undone) if record.undone is not None else None
    reference = placeholder("REFERENCE")
    if record.table == "charges":
        voided = record.status == Charge.Status.VOIDED
        charged = record.status == Charge.Status.CHARGED
        rows["charges"].append(
            [
                placeholder("CHARGE_ID"),
                key,
                PROCESS_ID,
                reference,
                created,
                updated,
                record.status,
                placeholder("PAYMENT_ID") if charged else "",
                "0.00" if voided else placeholder("AMOUNT"),
                placeholder("CURRENCY"),
            ]
        )
        if undone is not None:
            rows["refunds"].append(
                [
                    placeholder("CHARGE_ID"),
                    placeholder("REFUND_ID"),
                    placeholder("AMOUNT"),
                    placeholder("CURRENCY"),
                    undone,
                ]
            )
    elif record.table == "reservations":
        voided = record.status == Reservation.Status.VOIDED
        booked = record.status in (Reservation.Status.BOOKED, Reservation.Status.CANCELLED)
        rows["reservations"].append(
            [
                key,
                PROCESS_ID,
                "" if voided else reference,
                created,
                updated,
                record.status,
                record.service,
                undone,
                reservation_code(record.service) if booked else "",
                record.details if booked else "",
            ]
        )
    else:
        rows["notifications"].append(
            [
                placeholder(f"NOTIFICATION_ID_{record.step.upper()}"),
                key,
                PROCESS_ID,
                reference,
                created,
                updated,
                record.status,
                record.template,
                placeholder("EMAIL"),
                record.subject,
                record.body,
            ]
        )


def _copy_line(values: list[Any]) -> str:
    return "\t".join(_copy_value(value) for value in values) + "\n"


def _copy_value(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _format(line: str, fields: set[str]) -> str:
    """The line as a format template: braces doubled, placeholders, process id and times as fields."""

    def field(match: re.Match[str]) -> str:
        if match["name"]:
            name = match["name"]
        elif match["pid"]:
            name = "PROCESS_ID"
        else:
            seconds = ((int(match["d"]) - 1) * 24 + int(match["h"])) * 3600 + int(match["m"]) * 60
            micros = (seconds + int(match["s"])) * 1_000_000 + int(match["f"] or 0)
            name = time_field(micros)
        fields.add(name)
        return "{" + name + "}"

    return _FIELD.sub(field, line.replace("{", "{{").replace("}", "}}"))


def _is_time(name: str) -> bool:
    return name[0] == "T" and name[1:].isdigit()
