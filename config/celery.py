"""The Celery application: configured from Django settings (the CELERY_ names)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery, signals

from config.sockets import spoke_while_idle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("orchestrator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logger = logging.getLogger(__name__)


# A worker keeps its database connection from one task to the next while tasks keep coming:
# lending it back to the pool after each task and taking it again cost a round trip to check it
# (and Django's setup of a connection) on every hop of every booking. Before each task, a kept
# connection is let go (the pool checks the next one it lends) when PostgreSQL said something
# while it sat idle (it sends its FATAL before closing on a restart: no round trip to find out),
# when it saw an error, or after a quiet spell longer than this.
CONNECTION_RECHECK_AFTER = 2.0


class _Quiet(threading.local):
    last_task_ended = 0.0  # per thread: embedded mode runs several workers in one process


_quiet = _Quiet()


@signals.task_prerun.connect
def _recheck_connections_before_task(**kwargs: Any) -> None:
    from django.db import close_old_connections, connections

    if time.monotonic() - _quiet.last_task_ended > CONNECTION_RECHECK_AFTER:
        close_old_connections()
        return
    for connection in connections.all(initialized_only=True):
        kept = connection.connection is not None
        if kept and (connection.errors_occurred or _spoke_while_idle(connection)):
            connection.close()


@signals.task_postrun.connect
def _let_go_of_failed_connections(**kwargs: Any) -> None:
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            # A task left a transaction open (a bug): Django would refuse every later query on
            # this thread; forget the block and hand the connection back (the pool rolls it back).
            logger.error("a task left a transaction open on %s: rolled back", connection.alias)
            connection.atomic_blocks, connection.savepoint_ids = [], []
            connection.in_atomic_block = connection.needs_rollback = False
            connection.close()
        elif connection.errors_occurred:
            connection.close()  # broken, maybe: the pool discards it or checks it before reuse
        elif connection.settings_dict.get("CONN_MAX_AGE") != 0:
            # Django's own rule where connections are not pooled: past CONN_MAX_AGE, or unusable.
            connection.close_if_unusable_or_obsolete()
    _quiet.last_task_ended = time.monotonic()


def _spoke_while_idle(connection: Any) -> bool:
    pgconn = getattr(connection.connection, "pgconn", None)
    if pgconn is None:  # not psycopg (SQLite in embedded mode)
        return False
    try:
        sock = pgconn.socket
    except Exception:  # psycopg knows it is gone already
        return True
    return spoke_while_idle(sock)


@signals.setup_logging.connect
def _keep_django_logging(**kwargs: Any) -> None:
    """Django's LOGGING (and LOG_LEVEL) rule in every process: without a receiver here, a worker
    would reset the root logger to its own --loglevel (WARNING unless told), hiding the engine's
    INFO lines."""
