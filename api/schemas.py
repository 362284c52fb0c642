"""The API's request and response shapes (they are also its OpenAPI schema)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import EmailStr, Field, field_validator

from booking.trip import Itinerary
from orchestrator.selectors import ProcessFilters
from orchestrator.status import ProcessStatus


class Problem(Schema):
    loc: list[str | int]
    msg: str


class ErrorOut(Schema):
    detail: str
    errors: list[Problem] | None = None


class BookingIn(Schema):
    customer_name: str = Field(min_length=1, max_length=200, examples=["Ada Lovelace"])
    customer_email: EmailStr
    itinerary: Itinerary
    amount: Decimal = Field(gt=0, le=1_000_000, max_digits=10, decimal_places=2, examples=["420.00"])
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", examples=["EUR"])
    workflow: str | None = Field(default=None, max_length=100, examples=["trip-booking"])

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class BookingOut(Schema):
    id: uuid.UUID
    reference: str
    process_id: uuid.UUID | None
    status: str | None


class ChargeOut(Schema):
    payment_id: str
    status: str
    amount: str
    currency: str
    refund_id: str | None
    refunded: str


class ReservationOut(Schema):
    service: str
    reference: str
    details: str
    status: str


class NotificationOut(Schema):
    template: str
    to: str
    subject: str
    status: str


class LedgerOut(Schema):
    charged: str
    refunded: str
    charges: list[ChargeOut]
    reservations: list[ReservationOut]
    notifications: list[NotificationOut]


class BookingDetailOut(BookingOut):
    customer_name: str
    customer_email: str
    itinerary: dict[str, Any]
    amount: str
    currency: str
    workflow: str
    created_at: datetime
    ledger: LedgerOut


class ProcessIn(Schema):
    workflow: str = Field(min_length=1, max_length=100)
    business_key: str = Field(min_length=1, max_length=200)
    input: dict[str, Any] = Field(default_factory=dict)


class StepOut(Schema):
    key: str
    status: str
    attempts: int
    in_doubt: bool
    waiting_for_operator: bool
    next_retry_at: datetime | None
    times_out_at: datetime | None
    last_error: str


class ProcessSummaryOut(Schema):
    id: uuid.UUID
    workflow: str
    version: int
    status: str
    business_key: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None


class ProcessOut(ProcessSummaryOut):
    input: dict[str, Any]
    context: dict[str, Any]
    steps: list[StepOut]


class ProcessQuery(Schema):
    """The process list's filters, as the dashboard's (orchestrator.selectors.ProcessFilters)."""

    status: ProcessStatus | None = None
    workflow: str = Field(default="", max_length=100)

    @field_validator("status", mode="before")
    @classmethod
    def _former_name(cls, value: Any) -> Any:
        """A status by its value, or by its former name ("failed", before 1.1, for "waiting")."""
        return ProcessStatus.read(value) if isinstance(value, str) else value

    version: int | None = Field(default=None, ge=1)
    step: str = Field(default="", max_length=64)
    created_after: datetime | None = None
    created_before: datetime | None = None
    failing: bool = False  # retrying, in doubt or waiting for an operator now
    had_retries: bool = False  # some step needed more than one attempt
    in_doubt: bool = False
    waiting: bool = False
    q: str = Field(default="", max_length=200)
    cursor: str | None = None

    def to_filters(self) -> ProcessFilters:
        return ProcessFilters(**self.model_dump(exclude={"cursor"}))


class ProcessPage(Schema):
    items: list[ProcessSummaryOut]
    next_cursor: str | None


class EventOut(Schema):
    seq: int
    type: str
    step: str
    attempt: int | None
    actor: str
    reason: str
    note: str
    payload: dict[str, Any]
    at: datetime


class EventPage(Schema):
    items: list[EventOut]
    next_cursor: int | None


class ActionIn(Schema):
    step: str | None = Field(default=None, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)
    output: dict[str, Any] | None = None


class ActionOut(Schema):
    process_id: uuid.UUID
    status: str


class SignalIn(Schema):
    data: dict[str, Any] = Field(default_factory=dict, description="Checked against the signal's schema.")


class SignalOut(Schema):
    process_id: uuid.UUID
    signal: str
    seq: int = Field(description="Where the signal stands in the process's history.")
    note: str = Field(description="What it did there, in words.")
    repeated: bool = Field(description="The key was used before: this is the first answer again.")
    status: str


class FaultsIn(Schema):
    technical_rate: float = Field(ge=0, le=1)
    business_rate: float = Field(ge=0, le=1)
    latency_ms: int = Field(ge=0, le=60_000)
    outage: bool = False
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)


class FaultsOut(FaultsIn):
    service: str
