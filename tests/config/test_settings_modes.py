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
MODE_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "DEBUG",
    "SECRET_KEY",
    "DATA_DIR",
    "METRICS_TOKEN",
    "ALLOW_DEBUG_ON_POSTGRES",
)


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
    assert s["engine"] == "config.postgresql"  # Django's, BEGIN sent with the first statement
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
            "SECRET_KEY must be set in production mode",
        ),
        (
            {"DATABASE_URL": "postgres://db/x", "REDIS_URL": "redis://r:6379/0", "DEBUG": "1"},
            "DEBUG is on with a PostgreSQL DATABASE_URL",
        ),
        (
            {
                "DATABASE_URL": "postgres://db/x",
                "REDIS_URL": "redis://r:6379/0",
                "DEBUG": "1",
                "ALLOW_DEBUG_ON_POSTGRES": "1",
            },
            "SECRET_KEY must be set in production mode",
        ),
        ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS must be an integer"),
    ],
)
def test_bad_values_stop_start_up_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = read_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


PRODUCTION = {
    "DATABASE_URL": "postgres://app:db-password@db.internal:5432/orchestrator",
    "REDIS_URL": "redis://:redis-password@cache.internal:6379/2",
    "SECRET_KEY": "a-long-random-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
}
HTTPS = {
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "METRICS_TOKEN": "m" * 32,
}


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in MODE_VARIABLES and k not in HTTPS}
    base.update(DATA_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], env=base, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_https_settings_come_from_the_environment_and_pass_the_deploy_checks(tmp_path: Path) -> None:
    script = (
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"
    )
    shown = manage(tmp_path, "shell", "-c", script, **PRODUCTION, **HTTPS)
    assert shown.stdout.split("\n")[-2] == "True 31536000 True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    checked = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **HTTPS)
    assert checked.returncode == 0, checked.stderr
    without = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert without.returncode != 0
    for warning in ("W004", "W008", "W012", "W016", "dashboard.W001"):
        assert warning in without.stderr


def test_the_debug_page_masks_the_urls_that_carry_passwords(tmp_path: Path) -> None:
    script = (
        "from django.views.debug import ExceptionReporter; from django.test import RequestFactory; "
        "import sys\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
        "    html = ExceptionReporter(RequestFactory().get('/'), *sys.exc_info()).get_traceback_html()\n"
        "print('db-password' in html, 'redis-password' in html, 'DATABASE_URL' in html)"
    )
    shown = manage(tmp_path, "shell", "-c", script, **PRODUCTION, DEBUG="1", ALLOW_DEBUG_ON_POSTGRES="1")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split("\n")[-2] == "False False True"


def test_production_mode_makes_no_development_admin_and_prints_no_password(tmp_path: Path) -> None:
    shown = manage(tmp_path, "ensure_dev_admin", **PRODUCTION)
    assert shown.returncode == 0
    assert "Production mode: no development admin" in shown.stdout and "Log in as" not in shown.stdout
    assert not (tmp_path / "var" / "dev-admin.txt").exists()
