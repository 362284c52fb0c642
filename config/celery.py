"""The Celery application: configured from Django settings (the CELERY_ names)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("orchestrator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_database_connections(**kwargs: Any) -> None:
    # Like Django around each request: drop a connection that is broken (PostgreSQL restarted),
    # past CONN_MAX_AGE or left with errors, and keep the others (reconnecting costs milliseconds).
    from django.db import close_old_connections

    close_old_connections()


@signals.setup_logging.connect
def _keep_django_logging(**kwargs: Any) -> None:
    """Django's LOGGING (and LOG_LEVEL) rule in every process: without a receiver here, a worker
    would reset the root logger to its own --loglevel (WARNING unless told), hiding the engine's
    INFO lines."""
