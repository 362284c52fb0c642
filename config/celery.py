"""The Celery application: configured from Django settings (the CELERY_ names)."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("orchestrator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# A worker keeps its database connection from one task to the next while tasks keep coming:
# lending it back to the pool after each task and taking it again cost a round trip to check it
# (and Django's setup of a connection) on every hop of every booking. After a quiet spell longer
# than this, the next task lends it back first, so that the pool checks it (PostgreSQL may have
# restarted meanwhile); a connection that saw an error is let go at once.
CONNECTION_RECHECK_AFTER = 2.0
_last_task_ended = 0.0


@signals.task_prerun.connect
def _recheck_connections_after_quiet(**kwargs: Any) -> None:
    if time.monotonic() - _last_task_ended > CONNECTION_RECHECK_AFTER:
        from django.db import close_old_connections

        close_old_connections()


@signals.task_postrun.connect
def _let_go_of_failed_connections(**kwargs: Any) -> None:
    global _last_task_ended
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred or connection.in_atomic_block:
            # Broken, or left in a transaction by a task that did not end it: drop it (the pool
            # discards a broken one, rolls the other back) rather than hand it to the next task.
            connection.close()
        elif connection.settings_dict.get("CONN_MAX_AGE") != 0:
            # Django's own rule where connections are not pooled: past CONN_MAX_AGE, or unusable.
            connection.close_if_unusable_or_obsolete()
    _last_task_ended = time.monotonic()


@signals.setup_logging.connect
def _keep_django_logging(**kwargs: Any) -> None:
    """Django's LOGGING (and LOG_LEVEL) rule in every process: without a receiver here, a worker
    would reset the root logger to its own --loglevel (WARNING unless told), hiding the engine's
    INFO lines."""
