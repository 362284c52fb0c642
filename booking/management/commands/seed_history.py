"""Fill the database with realistic trip processes, in bulk, to measure the console at scale.

    python manage.py seed_history --processes 1000000 --seed 1

Each process is a copy of a trip rehearsed through the engine's rules (booking/seeding), with its
booking, its history and what the services did, under new ids, references, customers and codes,
started at a time spread over the last weeks. Written with COPY in batches, one transaction each;
PostgreSQL only. See docs/console-at-scale.md.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from booking.seeding.stamping import Stamper, batch_write
from booking.seeding.templates import TABLES


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Fill the database with realistic ended, waiting and running trip processes, in bulk (PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=positive, default=1000, help="How many (default 1000).")
        parser.add_argument("--seed", type=int, default=1, help="The same seed writes the same data.")
        parser.add_argument("--batch", type=positive, default=2000, help="Processes per transaction.")
        parser.add_argument(
            "--days", type=float, default=28.0, help="Ended processes started over this many days back."
        )
        parser.add_argument(
            "--no-vacuum",
            action="store_true",
            help="Skip VACUUM ANALYZE of the tables written (autovacuum does it later).",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("seed_history writes with PostgreSQL's COPY: set DATABASE_URL=postgres://...")
        began = time.monotonic()
        try:
            stamper = Stamper(random.Random(opts["seed"]), now=timezone.now(), days=opts["days"])
        except LookupError as missing:
            raise CommandError(str(missing)) from None
        total = opts["processes"]
        rows: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        with tqdm(total=total, unit="process", disable=not self.stdout.isatty()) as bar:
            left = total
            while left:
                batch = stamper.batch(min(opts["batch"], left))
                rows.update(batch_write(batch))
                statuses.update(batch.statuses)
                left -= batch.processes
                bar.update(batch.processes)
        written = time.monotonic() - began
        if not opts["no_vacuum"]:
            # Statistics for the planner, and the visibility map for index-only scans, now rather
            # than whenever autovacuum comes by.
            with connection.cursor() as cursor:
                for table in TABLES.values():
                    cursor.execute(f'VACUUM (ANALYZE) "{table.name}"')
        elapsed = time.monotonic() - began
        events = rows["history"]
        self.stdout.write(
            f"Seeded {total} processes in {elapsed:.0f} s ({written:.0f} s writing, "
            f"{total / written:.0f}/s): {events} history events ({events / total:.1f} per process)"
        )
        self.stdout.write("Rows: " + ", ".join(f"{key} {rows[key]}" for key in TABLES))
        self.stdout.write("Statuses: " + ", ".join(f"{status} {n}" for status, n in statuses.most_common()))
