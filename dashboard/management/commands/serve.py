"""Serve the ASGI application with uvicorn; in embedded mode, with the workers in-process."""

from __future__ import annotations

from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config.celery import app
from config.embedded import EmbeddedRuntime
from config.env import env_int, env_str
from orchestrator.commands import queues_all


class Command(BaseCommand):
    help = "Serve HTTP and websockets (and, in embedded mode, run the Celery workers and tick)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=env_str("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=env_int("PORT", 8000, minimum=1))
        parser.add_argument(
            "--workers",
            type=int,
            default=env_int("WEB_CONCURRENCY", 1, minimum=1),
            help="web server processes (production mode only)",
        )

    def handle(self, *args: Any, host: str, port: int, workers: int, **options: Any) -> None:
        runtime = None
        if settings.EMBEDDED_WORKERS:
            # The in-memory broker only connects threads of one process: one web process.
            workers = 1
            runtime = EmbeddedRuntime(app, threads=settings.EMBEDDED_WORKER_THREADS, queues=queues_all())
            runtime.start()
        self.stdout.write(f"Serving on http://{host}:{port}/ ({settings.RUN_MODE} mode)", ending="\n")
        self.stdout.flush()
        try:
            uvicorn.run(
                "config.asgi:application",
                host=host,
                port=port,
                workers=workers,
                lifespan="off",
                log_config=None,  # keep Django's logging configuration
                proxy_headers=True,
            )
        finally:
            if runtime is not None:
                runtime.stop()
