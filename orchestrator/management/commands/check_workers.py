"""Send a probe to every queue and report which ones a worker answers, and how fast.

Exits non-zero when a queue has no worker answering within the timeout. In embedded mode the
command runs its own in-process workers, so it checks the whole Celery path of this process.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.celery import app
from config.embedded import EmbeddedRuntime
from orchestrator.commands import queues_all
from orchestrator.probes import probe_send, probes_await


class Command(BaseCommand):
    help = "Check that a Celery worker consumes each queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for answers")
        parser.add_argument("--queue", action="append", dest="queues", help="queue to check (repeatable)")

    def handle(self, *args: Any, timeout: float, queues: list[str] | None, **options: Any) -> None:
        queues = queues or list(queues_all())
        runtime = None
        if settings.EMBEDDED_WORKERS:
            runtime = EmbeddedRuntime(app, threads=1, queues=queues_all())
            runtime.start()
        try:
            probes = [probe_send(queue=queue) for queue in queues]
            results = probes_await(probes=probes, timeout=timeout)
        finally:
            if runtime is not None:
                runtime.stop()
        missing = []
        for result in results:
            if result.latency is None:
                missing.append(result.queue)
                self.stdout.write(f"{result.queue:<16} NO ANSWER within {timeout:g} s")
            else:
                ms = result.latency.total_seconds() * 1000
                self.stdout.write(f"{result.queue:<16} ok  {ms:8.1f} ms  {result.worker}")
        if missing:
            raise CommandError(f"no worker answered on: {', '.join(missing)}")
