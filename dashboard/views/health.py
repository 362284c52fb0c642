"""Probes for load balancers and orchestrators: liveness (`/healthz`) and readiness (`/readyz`)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

BROKER_TIMEOUT = 2  # seconds: a probe must answer well within a load balancer's own timeout

# Once this process has seen every migration applied it stays so (migrations are not unapplied
# under a running process): the migration graph is not read again on every probe.
_migrated = False


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and its database does too."""
    if _database() != "ok":  # the details go to the log only
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers, every migration is applied, the broker answers.

    503 names what is not ready (never an address or a password: the details go to the log)."""
    checks = {"database": _database(), "migrations": "", "broker": _broker()}
    checks["migrations"] = _migrations() if checks["database"] == "ok" else "unknown: no database"
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.warning("the database does not answer", exc_info=True)
        return "unreachable"
    return "ok"


def _migrations() -> str:
    global _migrated
    if _migrated:
        return "ok"
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        logger.warning("readiness: could not read the applied migrations", exc_info=True)
        return "unknown"
    if pending:
        return f"{len(pending)} not applied"
    _migrated = True
    return "ok"


def _broker() -> str:
    from config.celery import app

    try:
        with app.connection_for_write(connect_timeout=BROKER_TIMEOUT) as broker:
            broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
    except Exception:
        logger.warning(
            "readiness: the broker does not answer (%s)",
            settings.CELERY_BROKER_URL.split("://")[0],
            exc_info=True,
        )
        return "unreachable"
    return "ok"
