"""Schemathesis against the generated OpenAPI, on a live server: no 5xx, and every response
matches the schema it documents (status codes and content types included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import WatchedProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_the_api_holds_to_its_schema_under_generated_requests(embedded_env: dict[str, str]) -> None:
    manage(embedded_env, "migrate", "--noinput", "-v0")
    manage(embedded_env, "load_demo")
    manage(
        embedded_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('fuzz', '', 'pw')",
    )
    token = manage(embedded_env, "create_api_token", "fuzz").splitlines()[-1]
    port = free_port()
    server = WatchedProcess(
        [sys.executable, "manage.py", "serve", "--port", str(port)], env=embedded_env, cwd=ROOT
    )
    server.start()
    try:
        server.wait_for_line(rf"Uvicorn running on http://127\.0\.0\.1:{port}", timeout=60)
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"http://127.0.0.1:{port}/api/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,"
                "content_type_conformance",
                "--max-examples",
                "20",
                "--seed",
                "7",
                "--workers",
                "1",
                "--no-shrink",
            ],
            env=embedded_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.interrupt()
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert "generated" in run.stdout and "failed" not in run.stdout.split("Test cases:")[-1].split("Seed")[0]
