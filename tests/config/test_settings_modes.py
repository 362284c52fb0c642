"""The settings module read in a fresh interpreter under different environments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "mode": settings.RUN_MODE,
    "debug": settings.DEBUG,
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "db_options": settings.DATABASES["default"].get("OPTIONS", {}),
    "conn_health_checks": settings.DATABASES["default"].get("CONN_HEALTH_CHECKS"),
    "broker": settings.CELERY_BROKER_URL,
    "embedded_workers": settings.EMBEDDED_WORKERS,
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
}))
"""
MODE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY", "DATA_DIR")


def read_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in MODE_VARIABLES}
    base.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=base, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def parsed(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_mode_without_database_or_redis(tmp_path: Path) -> None:
    s = parsed(read_settings(tmp_path))
    assert s["mode"] == "embedded"
    assert s["debug"] is False
    assert s["engine"] == "config.sqlite"
    assert s["db_name"] == str(tmp_path / "var" / "orchestrator.sqlite3")
    assert s["db_options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in s["db_options"]["init_command"]
    assert s["broker"].startswith("memory://")
    assert s["embedded_workers"] is True
    assert s["channel_layer"] == "channels.layers.InMemoryChannelLayer"


def test_production_mode_with_postgres_and_redis(tmp_path: Path) -> None:
    s = parsed(
        read_settings(
            tmp_path,
            DATABASE_URL="postgres://app:pw@db.internal:5432/orchestrator",
            REDIS_URL="redis://cache.internal:6379/2",
            SECRET_KEY="x" * 50,
        )
    )
    assert s["mode"] == "production"
    assert s["debug"] is False
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["db_name"] == "orchestrator"
    assert s["conn_health_checks"] is True
    assert s["broker"] == "redis://cache.internal:6379/2"
    assert s["embedded_workers"] is False
    assert s["channel_layer"] == "channels_redis.core.RedisChannelLayer"


def test_rabbitmq_broker_overrides_redis(tmp_path: Path) -> None:
    s = parsed(
        read_settings(
            tmp_path,
            DATABASE_URL="postgres://app@db/orchestrator",
            REDIS_URL="redis://cache:6379/0",
            CELERY_BROKER_URL="amqp://guest:guest@mq:5672//",
            SECRET_KEY="x" * 50,
        )
    )
    assert s["broker"] == "amqp://guest:guest@mq:5672//"
    assert s["channel_layer"] == "channels_redis.core.RedisChannelLayer"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be one of"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL must be a URL starting with one of postgres://"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a URL starting with one of redis://"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'LOUD'"),
        (
            {"DATABASE_URL": "postgres://db/x", "REDIS_URL": "redis://r:6379/0"},
            "SECRET_KEY must be set when DEBUG is off in production mode",
        ),
    ],
)
def test_bad_values_stop_start_up_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = read_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
