"""Start bookings at a steady rate, wait for them to end, report latencies and check the money.

    python manage.py simulate --bookings 500 --rate 50 --faults payments=technical:0.2,business:0.1

Exits non-zero when a booking has not ended in time or the money does not add up.
"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from booking.faults import faults_set
from booking.models import ServiceFaults
from booking.services.registry import service_names
from booking.simulation import Progress, Report, simulation_run
from config.celery import app
from config.embedded import EmbeddedRuntime
from orchestrator.commands import queues_all
from orchestrator.probes import probe_send, probes_await
from orchestrator.status import ProcessStatus

FAULT_FIELDS = {
    "technical": "technical_rate",
    "business": "business_rate",
    "latency": "latency_ms",
    "outage": "outage",
}


def parse_faults(text: str) -> tuple[str, dict[str, Any]]:
    """'payments=technical:0.2,business:0.1' -> ('payments', {'technical_rate': 0.2, ...})."""
    service, sep, settings_text = text.partition("=")
    if not sep or service not in service_names():
        raise CommandError(
            f"--faults {text!r}: expected SERVICE=technical:R,business:R,latency:MS,outage:0|1 "
            f"with SERVICE one of {', '.join(service_names())}"
        )
    values: dict[str, Any] = {}
    for item in filter(None, settings_text.split(",")):
        name, _, raw = item.partition(":")
        if name not in FAULT_FIELDS:
            raise CommandError(f"--faults {text!r}: unknown fault {name!r}; one of {', '.join(FAULT_FIELDS)}")
        try:
            if name == "outage":
                values["outage"] = raw.strip() in {"1", "true", "yes", "on"}
            elif name == "latency":
                values["latency_ms"] = int(raw)
            else:
                values[FAULT_FIELDS[name]] = float(raw)
        except ValueError:
            raise CommandError(f"--faults {text!r}: {name} needs a number, got {raw!r}") from None
    return service, values


class Command(BaseCommand):
    help = "Run a load of bookings through the engine and check that every one ends with the right money."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bookings", type=int, default=100)
        parser.add_argument("--rate", type=float, default=10.0, help="bookings started per second")
        parser.add_argument("--workflow", default="trip-booking")
        parser.add_argument("--faults", action="append", default=[], metavar="SERVICE=technical:R,business:R")
        parser.add_argument(
            "--timeout", type=float, default=300.0, help="seconds to wait after the last start"
        )
        parser.add_argument("--seed", type=int, default=None, help="repeatable bookings and faults")
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.EMBEDDED_WORKER_THREADS,
            help="worker threads in embedded mode",
        )
        parser.add_argument("--keep-faults", action="store_true", help="leave the fault settings as set")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["bookings"] < 1 or opts["rate"] <= 0:
            raise CommandError("--bookings must be at least 1 and --rate more than 0")
        changes = [parse_faults(text) for text in opts["faults"]]
        saved = {row.service: row for row in ServiceFaults.objects.all()}
        runtime = None
        if settings.EMBEDDED_WORKERS:
            runtime = EmbeddedRuntime(app, threads=opts["threads"], queues=queues_all())
            runtime.start()
        try:
            self._require_workers()
            for service, values in changes:
                faults_set(service, **values, seed=opts["seed"])
            # A bar on a terminal; nothing when the output goes to a file or a log.
            with tqdm(
                total=opts["bookings"], desc="ended", unit="booking", disable=not sys.stderr.isatty()
            ) as bar:
                report = simulation_run(
                    bookings=opts["bookings"],
                    rate=opts["rate"],
                    workflow=opts["workflow"],
                    timeout=opts["timeout"],
                    seed=opts["seed"],
                    on_progress=lambda progress: self._progress(bar, progress),
                )
        finally:
            if changes and not opts["keep_faults"]:
                self._restore(saved, [service for service, _ in changes])
            if runtime is not None:
                runtime.stop()
        self._summary(report)
        if not report.ok:
            raise CommandError(
                f"{report.not_terminal} booking(s) not ended in time, {len(report.problems)} money problem(s)"
            )

    def _require_workers(self) -> None:
        probes = [probe_send(queue=queue) for queue in queues_all()]
        silent = [r.queue for r in probes_await(probes=probes, timeout=15) if r.latency is None]
        if silent:
            raise CommandError(
                f"no worker answers on {', '.join(silent)}: start the workers first (make run)"
            )

    def _restore(self, saved: dict[str, ServiceFaults], services: list[str]) -> None:
        for service in services:
            if service in saved:
                saved[service].save()
            else:
                ServiceFaults.objects.filter(service=service).delete()

    def _progress(self, bar: Any, progress: Progress) -> None:
        bar.n = progress.terminal
        bar.set_postfix_str(
            f"{progress.started} started | "
            + " ".join(f"{s.value} {progress.counts[s]}" for s in ProcessStatus if progress.counts[s]),
            refresh=False,
        )
        bar.refresh()

    def _summary(self, report: Report) -> None:
        out = self.stdout.write
        out(f"{'status':<14}{'bookings':>10}")
        for status in ProcessStatus:
            if report.counts[status]:
                out(f"{status.value:<14}{report.counts[status]:>10}")
        out(f"{'total':<14}{report.total:>10}")
        out("")
        for p in (50, 95, 99):
            value = report.percentile(p)
            out(f"p{p} end-to-end   {value:8.2f} s" if value is not None else f"p{p} end-to-end        n/a")
        out(f"elapsed         {report.elapsed:8.2f} s  ({report.total / report.elapsed:.1f} bookings/s)")
        out("")
        if report.problems:
            out(f"money check: FAILED ({len(report.problems)} problem(s))")
            for problem in report.problems[:20]:
                out(f"  {problem}")
        else:
            out("money check: ok (charges minus refunds: the amount if completed, 0 otherwise)")
        if report.not_terminal:
            out(f"not ended in time: {report.not_terminal}")
