"""How fast the console answers on the data at hand: server time of each page an operator (or
Prometheus) asks for, in process, without the network.

    python manage.py measure_console --requests 30 --budget 150

Each measurement runs `--requests` requests (after one not counted, which warms the caches) through
Django's test client as a staff user who may read processes and bookings, and reports p50 and p95
in ms against the budget. The last line is one JSON object of the figures. See
docs/console-at-scale.md.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client, override_settings

from orchestrator.selectors import status_counts
from orchestrator.status import ProcessStatus

USERNAME = "console-measure"
# What the list, the process page (booking card and ledger included) and the API's list need.
PERMISSIONS = ["view_processinstance", "view_booking"]


@dataclass(frozen=True)
class Sample:
    """Seeded processes to look for: each request of a measurement asks for another one."""

    process_id: str
    reference: str
    email: str
    business_key: str  # one a service issued (a PNR, a confirmation number), as it was issued


def samples_draw(count: int) -> list[Sample]:
    """Random bookings' processes that hold a business key (so that each search has something to
    find). Drawn from a sample of the table, not from a scan of it."""
    sql = (
        "SELECT p.id, b.reference, b.customer_email, k.value "
        "FROM orchestrator_processinstance p {sample} JOIN booking_booking b ON b.process_id = p.id "
        "JOIN LATERAL (SELECT value FROM orchestrator_processkey WHERE process_id = p.id "
        "ORDER BY id DESC LIMIT 1) k ON true LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'orchestrator_processinstance'")
        estimate = float(cursor.fetchone()[0])
        percent = 100.0 if estimate <= 0 else min(100.0, 100.0 * count * 20 / estimate)
        cursor.execute(sql.replace("{sample}", f"TABLESAMPLE BERNOULLI ({percent:f})"), [count])
        rows = cursor.fetchall()
    return [Sample(str(pk), reference, email, key) for pk, reference, email, key in rows]


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Command(BaseCommand):
    help = (
        "Server time of the dashboard's lists, searches and counters, a process page, the API and /metrics."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--requests", type=int, default=30, help="Requests per measurement.")
        parser.add_argument(
            "--budget", type=float, default=150.0, help="The p95 each must stay under, in ms."
        )
        parser.add_argument(
            "--check", action="store_true", help="Exit with status 1 when a p95 is over the budget."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("measure_console measures PostgreSQL: set DATABASE_URL=postgres://...")
        count = opts["requests"]
        samples = samples_draw(count)
        if not samples:
            raise CommandError("no booking with a business key to look for: run `manage.py seed_history`")
        token = secrets.token_urlsafe(24)
        hosts = [*settings.ALLOWED_HOSTS, "testserver"]
        user, created = self._user()
        try:
            with override_settings(ALLOWED_HOSTS=hosts, METRICS_TOKEN=token):
                client = Client(raise_request_exception=True)
                client.force_login(user)
                figures = self._measure(client, samples, count, token)
                client.logout()
        finally:
            if created:
                user.delete()
        self._report(figures, count, opts["budget"])
        if opts["check"] and any(f["p95_ms"] >= opts["budget"] for f in figures.values()):
            raise SystemExit(1)

    def _user(self) -> tuple[Any, bool]:
        user, created = get_user_model().objects.get_or_create(username=USERNAME, defaults={"is_staff": True})
        if created:
            user.set_unusable_password()
            user.save()
            user.user_permissions.set(Permission.objects.filter(codename__in=PERMISSIONS))
        return user, created

    def _measure(
        self, client: Client, samples: list[Sample], count: int, token: str
    ) -> dict[str, dict[str, float]]:
        statuses = list(ProcessStatus)
        workflows = ["trip-booking", "trip-booking-parallel"]

        def sample(i: int) -> Sample:
            return samples[i % len(samples)]

        def page(path: Callable[[int], str], **headers: str) -> Callable[[int], None]:
            def get(i: int) -> None:
                response = client.get(path(i), secure=True, **headers)  # type: ignore[arg-type]
                if response.status_code != 200:
                    raise CommandError(f"{path(i)} answered {response.status_code}")

            return get

        def counters(i: int) -> None:
            status_counts()

        measurements: dict[str, Callable[[int], None]] = {
            "list": page(lambda i: "/"),
            "list_by_status": page(lambda i: f"/?status={statuses[i % len(statuses)].value}"),
            "list_by_workflow": page(lambda i: f"/?workflow={workflows[i % len(workflows)]}"),
            "list_failing_now": page(lambda i: "/?failing=on"),
            # Half the references as a customer reads them out on the phone, in lower case.
            "search_reference": page(
                lambda i: f"/?q={sample(i).reference.lower() if i % 2 else sample(i).reference}"
            ),
            "search_email": page(lambda i: f"/?q={sample(i).email}"),
            # A code a service issued (the last step's with one), in lower case half the time.
            "search_key": page(
                lambda i: f"/?q={sample(i).business_key.lower() if i % 2 else sample(i).business_key}"
            ),
            "status_counts": counters,
            "process_page": page(lambda i: f"/processes/{sample(i).process_id}/"),
            "api_list": page(lambda i: "/api/processes"),
            "metrics": page(lambda i: "/metrics", HTTP_AUTHORIZATION=f"Bearer {token}"),
            "charts_1h": page(lambda i: "/charts/data?range=1h"),
            "charts_24h": page(lambda i: "/charts/data?range=24h"),
        }
        figures = {}
        for name, request in measurements.items():
            request(count)  # not counted: warms the template and query caches
            times = []
            for i in range(count):
                began = time.perf_counter()
                request(i)
                times.append((time.perf_counter() - began) * 1000)
            figures[name] = {
                "p50_ms": round(percentile(times, 0.50), 1),
                "p95_ms": round(percentile(times, 0.95), 1),
            }
        return figures

    def _report(self, figures: dict[str, dict[str, float]], count: int, budget: float) -> None:
        processes = sum(status_counts().values())
        self.stdout.write(f"{processes} processes, {count} requests each, budget p95 < {budget:g} ms")
        for name, figure in figures.items():
            verdict = "ok" if figure["p95_ms"] < budget else "OVER BUDGET"
            self.stdout.write(
                f"  {name:<18} p50 {figure['p50_ms']:>8.1f} ms   p95 {figure['p95_ms']:>8.1f} ms   {verdict}"
            )
        slowest = max(figures, key=lambda name: figures[name]["p95_ms"])
        passed = all(figure["p95_ms"] < budget for figure in figures.values())
        self.stdout.write(
            f"Verdict: {'every p95 under' if passed else 'NOT every p95 under'} {budget:g} ms "
            f"(slowest: {slowest}, p95 {figures[slowest]['p95_ms']} ms)"
        )
        summary = {
            "processes": processes,
            "requests": count,
            "budget_ms": budget,
            "pass": passed,
            **figures,
        }
        self.stdout.write(json.dumps(summary))
