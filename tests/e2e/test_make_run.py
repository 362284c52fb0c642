"""`make run`: on a machine with only Python, embedded mode; with PostgreSQL and a broker, the
production layout under a supervisor that restarts what dies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
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


def supervisorctl(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["supervisorctl", "--configuration", "deploy/supervisord.conf", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.workers
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_make_run_in_production_mode_supervises_web_workers_and_beat(
    production_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **production_env,
        "PORT": str(port),
        "SECRET_KEY": "test-" + "k" * 40,
        "RUN_DIR": str(tmp_path / "run"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    server = WatchedProcess(["make", "run"], env=env, cwd=ROOT).start()
    try:
        server.wait_for_line(rf"Uvicorn running on http://127\.0\.0\.1:{port}", timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            assert response.status == 200
        # Every queue is consumed by one of the supervised worker processes.
        check = subprocess.run(
            [sys.executable, "manage.py", "check_workers", "--timeout", "30"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert check.returncode == 0, check.stdout + check.stderr + server.output
        for queue in ("payments", "flights", "hotels", "cars", "notifications", "orchestrator"):
            assert f"{queue}-0@" in check.stdout
        status = supervisorctl(env, "status")
        assert status.count("RUNNING") == 8, status  # web, six workers, beat

        # A worker killed as the OOM killer would: back within seconds, the rest untouched.
        before = int(supervisorctl(env, "pid", "payments:payments-0"))
        web = int(supervisorctl(env, "pid", "web"))
        os.kill(before, signal.SIGKILL)
        server.wait_for_line(r"exited: payments-0 \(terminated by SIGKILL; not expected\)", timeout=30)
        server.wait_for_line(r"success: payments-0 entered RUNNING state", timeout=30)
        after = int(supervisorctl(env, "pid", "payments:payments-0"))
        assert after not in (0, before)
        assert int(supervisorctl(env, "pid", "web")) == web and healthy(port)
        again = subprocess.run(
            [sys.executable, "manage.py", "check_workers", "--timeout", "30", "--queue", "payments"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        server.interrupt()
    assert not server.group_alive(), "Ctrl-C left processes behind"
