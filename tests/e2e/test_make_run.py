"""`make run`: on a machine with only Python, embedded mode; with PostgreSQL and a broker, the
production layout under a supervisor that restarts what dies."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from orchestrator.commands import command_queues
from tests.support.processes import WatchedProcess, free_port
from tests.support.waiting import wait_until

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
@pytest.mark.parametrize(
    ("layout", "payments_worker"),
    [("compact", "services:services-0"), ("per-queue", "payments:payments-0")],
)
def test_make_run_in_production_mode_supervises_web_workers_and_beat(
    production_env: dict[str, str], tmp_path: Path, layout: str, payments_worker: str
) -> None:
    port = free_port()
    env = {
        **production_env,
        "WORKER_LAYOUT": layout,
        "PORT": str(port),
        "SECRET_KEY": "test-" + "k" * 40,
        "RUN_DIR": str(tmp_path / "run"),
        "METRICS_TOKEN": "metrics-" + "t" * 32,
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
        services = command_queues()  # the declared services' queues
        assert "payments" in services and "hotels" in services
        for queue in services:
            # Compact: one process answers for every service queue; per queue: a process each.
            consumer = "services-0@" if layout == "compact" else f"{queue}-0@"
            assert re.search(rf"^{queue}\s+ok\s.*{consumer}", check.stdout, re.MULTILINE), check.stdout
        assert "orchestrator-0@" in check.stdout
        workers = 1 + (1 if layout == "compact" else len(services))  # the orchestrator's and the services'
        # supervisord says RUNNING once a process has lasted `startsecs`: it may still say STARTING.
        status = wait_until(
            lambda: text if (text := supervisorctl(env, "status")).count("RUNNING") >= workers + 2 else "",
            30,
            "every program (and web, beat) to run",
            every=0.5,
        )
        assert status.count("RUNNING") == workers + 2, status
        # Each supervised process writes its counters to files of its own in one directory, which
        # make run emptied at start; /metrics sums them.
        written = {path.stem.rsplit("_", 1)[1] for path in (tmp_path / "run" / "prometheus").glob("*.db")}
        supervised = {
            supervisorctl(env, "pid", name).strip() for name in ("web", "orchestrator:orchestrator-0")
        }
        assert supervised <= written, (supervised, written)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {env['METRICS_TOKEN']}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b"\norchestrator_dead_letters_total " in response.read()

        # A worker killed as the OOM killer would: back within seconds, the rest untouched.
        before = int(supervisorctl(env, "pid", payments_worker))
        web = int(supervisorctl(env, "pid", "web"))
        os.kill(before, signal.SIGKILL)
        name = payments_worker.split(":")[1]
        server.wait_for_line(rf"exited: {name} \(terminated by SIGKILL; not expected\)", timeout=30)
        server.wait_for_line(rf"success: {name} entered RUNNING state", timeout=30)
        after = int(supervisorctl(env, "pid", payments_worker))
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
