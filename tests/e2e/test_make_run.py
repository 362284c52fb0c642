"""`make run` on a machine with only Python: embedded mode serves the admin login page."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import WatchedProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_make_run_serves_the_admin_login_in_embedded_mode(embedded_env: dict[str, str]) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port = free_port()
    server = WatchedProcess(["make", "run"], env={**embedded_env, "PORT": str(port)}, cwd=ROOT).start()
    try:
        credentials = server.wait_for_line(r"Log in as (\S+) / (\S+)", timeout=60)
        server.wait_for_line(rf"Uvicorn running on http://127\.0\.0\.1:{port}", timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            page = response.read().decode()
        assert response.status == 200
        assert "Log in" in page and 'name="password"' in page
        assert credentials.group(1) == "admin"
        assert "embedded mode" in server.output
        assert (Path(embedded_env["DATA_DIR"]) / "orchestrator.sqlite3").exists()
    finally:
        server.interrupt()
    assert not server.group_alive(), "Ctrl-C left processes behind"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_make_run_in_production_mode_starts_web_workers_and_beat(production_env: dict[str, str]) -> None:
    import subprocess
    import sys

    port = free_port()
    env = {**production_env, "PORT": str(port), "SECRET_KEY": "test-" + "k" * 40}
    server = WatchedProcess(["make", "run"], env=env, cwd=ROOT).start()
    try:
        server.wait_for_line(rf"Uvicorn running on http://127\.0\.0\.1:{port}", timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            assert response.status == 200
        # Every queue is consumed by one of the Procfile's worker processes.
        check = subprocess.run(
            [sys.executable, "manage.py", "check_workers", "--timeout", "30"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert check.returncode == 0, check.stdout + check.stderr + server.output
        for queue in ("payments", "flights", "hotels", "notifications", "orchestrator"):
            assert f"{queue}@" in check.stdout
        server.wait_for_line(r"beat.*\|", timeout=30)
    finally:
        server.interrupt()
    assert not server.group_alive(), "Ctrl-C left processes behind"
