"""Seeded processes stamped out of rehearsed trips and written with COPY, batch by batch.

1. `templates_rehearse` rehearses a catalogue of trips for each demo workflow and status.
2. For each new process, `Stamper` draws a template (by the share of each status), the
   customer, itinerary, codes and ids, and a start time: spread over the last weeks for ended
   processes, the last days for those waiting for someone, the last minutes for those at work.
3. `batch_write` writes a batch's rows with one COPY per table, in one transaction.
"""

from __future__ import annotations

import random
import string
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction

from booking.models import Booking, Charge, Notification
from booking.seeding.templates import TABLES, TripTemplate, template_build, time_field
from booking.seeding.trips import CODES, itinerary_placeholder, scenario
from booking.trip import CURRENCIES, itinerary_random, traveller_random
from orchestrator.definitions import definition_active, definition_for_run
from orchestrator.keys import key_normalise
from orchestrator.models import ProcessInstance
from orchestrator.status import ProcessStatus

# Of the seeded processes: most have ended, a few wait for someone, a few are at work.
STATUS_SHARES: dict[ProcessStatus, float] = {
    ProcessStatus.COMPLETED: 0.80,
    ProcessStatus.COMPENSATED: 0.12,
    ProcessStatus.CANCELLED: 0.02,
    ProcessStatus.WAITING: 0.015,
    ProcessStatus.RUNNING: 0.03,
    ProcessStatus.COMPENSATING: 0.005,
    ProcessStatus.PAUSED: 0.01,
}
WORKFLOW_SHARES = {"trip-booking": 0.85, "trip-booking-parallel": 0.15}
TEMPLATES_PER_STATUS = {ProcessStatus.COMPLETED: 48, ProcessStatus.COMPENSATED: 24}
TEMPLATES_OTHERWISE = 12

CODE = string.ascii_uppercase + string.digits
# Booking references as booking_reference_new draws them: 32 symbols over 6 places.
REFERENCE_SYMBOLS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE_SPACE = len(REFERENCE_SYMBOLS) ** 6


class SeedingNeedsPostgres(RuntimeError):
    """COPY is PostgreSQL's: seeding a million processes is for PostgreSQL only."""


def templates_rehearse(rng: random.Random) -> dict[str, dict[ProcessStatus, list[TripTemplate]]]:
    """A catalogue of rehearsed trips for each demo workflow and status."""
    catalogue: dict[str, dict[ProcessStatus, list[TripTemplate]]] = {}
    for workflow in WORKFLOW_SHARES:
        row = definition_active(workflow)
        if row is None:
            raise LookupError(f"no active workflow {workflow!r}: run `manage.py load_demo` first")
        definition = definition_for_run(row)
        by_status: dict[ProcessStatus, list[TripTemplate]] = {}
        for status in STATUS_SHARES:
            wanted = TEMPLATES_PER_STATUS.get(status, TEMPLATES_OTHERWISE)
            found: list[TripTemplate] = []
            for _ in range(wanted * 20):
                trip = scenario(status, workflow, definition, rng)
                if trip is not None and trip.rehearsal.state.status == status:
                    found.append(template_build(trip, row.pk))
                if len(found) == wanted:
                    break
            if not found:
                raise RuntimeError(f"could not rehearse a {workflow} trip that is {status.label.lower()}")
            by_status[status] = found
        catalogue[workflow] = by_status
    return catalogue


@dataclass
class IdBlock:
    """Identity values reserved for a batch (the rows that others refer to need their id first)."""

    values: Iterator[int]

    def take(self) -> str:
        return str(next(self.values))


@dataclass
class Batch:
    lines: dict[str, list[str]] = field(default_factory=lambda: {key: [] for key in TABLES})
    statuses: Counter[str] = field(default_factory=Counter)
    processes: int = 0


class Stamper:
    """Draws every new process's template and values, reproducibly from one random generator."""

    def __init__(self, rng: random.Random, *, now: datetime, days: float) -> None:
        self.rng = rng
        self.now = now
        self.days = days
        self.catalogue = templates_rehearse(rng)
        self.statuses = list(STATUS_SHARES)
        self.status_weights = list(STATUS_SHARES.values())
        self.workflows = list(WORKFLOW_SHARES)
        self.workflow_weights = list(WORKFLOW_SHARES.values())
        # References walk a permutation of the whole space from a random place: unique in a run.
        self.reference_step = self._coprime_step()
        self.reference_index = rng.randrange(REFERENCE_SPACE)
        self.ids_epoch_ms = int(now.timestamp() * 1000)
        self.ids_drawn = 0

    def _coprime_step(self) -> int:
        # An odd step is coprime with 32**6: the walk visits every reference once.
        return self.rng.randrange(REFERENCE_SPACE // 3, REFERENCE_SPACE) | 1

    def references(self, count: int) -> list[str]:
        found = []
        for _ in range(count):
            self.reference_index = (self.reference_index + self.reference_step) % REFERENCE_SPACE
            number, symbols = self.reference_index, []
            for _ in range(6):
                number, digit = divmod(number, len(REFERENCE_SYMBOLS))
                symbols.append(REFERENCE_SYMBOLS[digit])
            found.append("TRP-" + "".join(symbols))
        return found

    def template(self) -> TripTemplate:
        workflow = self.rng.choices(self.workflows, self.workflow_weights)[0]
        status = self.rng.choices(self.statuses, self.status_weights)[0]
        return self.rng.choice(self.catalogue[workflow][status])

    def start_of(self, template: TripTemplate) -> datetime:
        """When the booking was made: its last event must lie in the past."""
        day = 86400.0
        if template.status.is_terminal:
            back = self.rng.uniform(3600.0, self.days * day)
        elif template.status.waits_for_operator or template.status == ProcessStatus.PAUSED:
            back = self.rng.uniform(600.0, min(3.0, self.days) * day)
        else:
            back = self.rng.uniform(5.0, 300.0)
        return self.now - timedelta(seconds=template.span + back)

    def uuid(self) -> str:
        """A time-ordered id (UUID version 7: the seeding time, then a counter, then random bits).

        Rows keyed by these ids (processes, history by process, service records by key, reply
        message ids) land at the end of their indexes instead of anywhere in them: with random ids
        every row of a million touches a random page of each such index, and the seed runs at the
        pace of the buffer cache instead of the disk's."""
        self.ids_drawn += 1
        counter = self.ids_drawn
        value = (
            (self.ids_epoch_ms << 80)
            | (0x7 << 76)
            | ((counter >> 30) & 0xFFF) << 64
            | (0b10 << 62)
            | (counter & 0x3FFFFFFF) << 32
            | self.rng.getrandbits(32)
        )
        return str(uuid.UUID(int=value))

    def code(self, length: int, alphabet: str = CODE) -> str:
        return "".join(self.rng.choices(alphabet, k=length))

    def values(self, template: TripTemplate, reference: str, ids: dict[str, IdBlock]) -> dict[str, str]:
        rng = self.rng
        name, email = traveller_random(rng)
        values = {
            "PROCESS_ID": self.uuid(),
            "BOOKING_ID": self.uuid(),
            "REFERENCE": reference,
            "NAME": name,
            "EMAIL": email.replace("@", f"{rng.randrange(100_000)}@"),
            "AMOUNT": f"{rng.randint(9000, 250000) / 100:.2f}",
            "CURRENCY": rng.choice(CURRENCIES),
            **{
                itinerary_placeholder(field).strip("@"): value
                for field, value in itinerary_random(rng, year=self.now.year + 1).items()
            },
        }
        fields = template.fields
        for placeholder_name, (prefix, length, alphabet) in CODES.items():
            if placeholder_name in fields:
                values[placeholder_name] = prefix + self.code(length, alphabet)
        for name in fields:
            if name.startswith("KEY_"):  # a business key: as orchestrator.keys stores it
                values[name] = key_normalise(values[name.removeprefix("KEY_")])
        if "CHARGE_ID" in fields:
            values["CHARGE_ID"] = ids["charges"].take()
        for name in fields:
            if name.startswith("NOTIFICATION_ID_"):
                values[name] = ids["notifications"].take()
            elif name.startswith("MSG_"):
                values[name] = self.uuid()
        start = self.start_of(template)
        for offset in template.times:
            values[time_field(offset)] = (start + timedelta(microseconds=offset)).isoformat()
        return values

    def batch(self, size: int) -> Batch:
        """The rows of `size` new processes."""
        chosen = [self.template() for _ in range(size)]
        references = self._free_references(size)
        ids = {
            "charges": IdBlock(iter(_identities(Charge, sum("CHARGE_ID" in t.fields for t in chosen)))),
            "notifications": IdBlock(
                iter(
                    _identities(
                        Notification,
                        sum(1 for t in chosen for name in t.fields if name.startswith("NOTIFICATION_ID_")),
                    )
                )
            ),
        }
        batch = Batch(processes=size)
        for template, reference in zip(chosen, references, strict=True):
            values = self.values(template, reference, ids)
            for key, text in template.rows.items():
                batch.lines[key].append(text.format_map(values))
            batch.statuses[template.status.value] += 1
        return batch

    def _free_references(self, count: int) -> list[str]:
        """References no booking or trip process has yet (a database seeded before, the demo's)."""
        found: list[str] = []
        while len(found) < count:
            drawn = self.references(count - len(found))
            taken = set(
                Booking.objects.filter(reference__in=drawn).values_list("reference", flat=True)
            ) | set(
                ProcessInstance.objects.filter(
                    workflow_name__in=self.workflows, business_key__in=drawn
                ).values_list("business_key", flat=True)
            )
            found += [reference for reference in drawn if reference not in taken]
        return found


def _identities(model: type[Charge] | type[Notification], count: int) -> list[int]:
    """`count` values of the table's identity, reserved (rows that refer to them are written first)."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def batch_write(batch: Batch) -> Counter[str]:
    """Write a batch with one COPY per table, in one transaction; returns the rows per table."""
    if connection.vendor != "postgresql":
        raise SeedingNeedsPostgres(
            "seed_history writes with PostgreSQL's COPY; DATABASE_URL is not PostgreSQL"
        )
    written: Counter[str] = Counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # A seed lost in a crash is seeded again: no need to wait for each commit to reach the disk.
        cursor.execute("SET LOCAL synchronous_commit TO off")
        raw = cursor.cursor  # psycopg's own cursor, which speaks COPY
        for key, table in TABLES.items():
            lines = batch.lines[key]
            if not lines:
                continue
            with raw.copy(table.copy_statement()) as copy:
                copy.write("".join(lines))
            written[key] += sum(line.count("\n") for line in lines)
    return written
