"""The chaos run's own world: a private PostgreSQL cluster, a private Redis, and the production
layout under supervisord, each of which a scenario may kill or restart without touching anything
else on the machine."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def _as_postgres(args: Sequence[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


class Postgres:
    """A throwaway PostgreSQL cluster on its own port, trusting local connections."""

    def __init__(self, directory: Path, *, database: str = "chaos", settings: Sequence[str] = ()) -> None:
        self.directory = directory
        self.data = directory / "pgdata"
        self.port = free_port()
        self.database = database
        self.settings = tuple(settings)  # more `name=value` server settings
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"]),
            check=True,
            capture_output=True,
        )
        self.start()
        subprocess.run(
            _as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), self.database]),
            check=True,
            capture_output=True,
        )

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c max_connections=200 -c listen_addresses=127.0.0.1"
        options += "".join(f" -c {setting}" for setting in self.settings)
        log = str(self.directory / "postgres.log")
        command = [
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            log,
            "-w",
            "-t",
            "60",
            *args,
        ]
        # No pipes: the server it starts would hold them open, and nobody would ever read the end.
        subprocess.run(
            _as_postgres(command), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if self.data.exists():
            self._ctl("-m", "immediate", "stop")

    def postmaster_pid(self) -> int:
        """The server's main process (its children, the connections, report to it)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])


class Redis:
    """A Redis of its own that keeps nothing on disk, as the one in production here."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 20)

    def restart(self) -> None:
        """A restart without persistence: everything queued is gone."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def world_stop(stack: Stack | None, redis: Redis, postgres: Postgres, folder: Path, *, keep: bool) -> None:
    """Stop what a run started, in order, and remove its folder unless asked to keep it."""
    if stack is not None:
        stack.stop()
    redis.stop()
    postgres.stop()
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)


class Stack:
    """The production layout (deploy/supervisord.conf) under supervisord, its output watched."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.port = free_port()
        self.env = {
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "RUN_DIR": str(directory / "run"),
            # The programs run `python` and `celery`: this interpreter's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            # One process per program unless the caller asks for more (the bench's scale-out).
            "ORCHESTRATOR_WORKERS": env.get("ORCHESTRATOR_WORKERS", "1"),
            # Chaos kills one service's worker at a time: one program per queue.
            "WORKER_LAYOUT": env.get("WORKER_LAYOUT", "per-queue"),
        }
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._lock = threading.Lock()

    @staticmethod
    def queues() -> list[str]:
        """Every queue a worker consumes: the orchestrator's, then the declared services' (each a
        program of its own in the per-queue layout)."""
        from orchestrator.commands import queues_all

        return queues_all()

    def start(self) -> None:
        (self.directory / "run").mkdir(parents=True, exist_ok=True)
        # The service workers' programs, from the declared services, as bin/run writes them.
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "worker_layout",
                self.env["WORKER_LAYOUT"],
                "--output",
                str(self.directory / "run" / "workers.conf"),
            ],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "--configuration", "deploy/supervisord.conf"],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        try:
            wait_for_port(self.port, 90)
        except RuntimeError:
            raise RuntimeError("the web server did not start:\n" + "\n".join(self.lines[-40:])) from None

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with (self.directory / "stack.log").open("a") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                with self._lock:
                    self.lines.append(line.rstrip("\n"))

    def mark(self) -> int:
        with self._lock:
            return len(self.lines)

    def lines_since(self, mark: int) -> list[str]:
        with self._lock:
            return self.lines[mark:]

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "supervisor.supervisorctl",
                "--configuration",
                "deploy/supervisord.conf",
                *args,
            ],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout

    def names(self) -> list[str]:
        """Every supervised process, as supervisorctl names it (web, payments:payments-0, ...)."""
        return [line.split()[0] for line in self.ctl("status").splitlines() if line.strip()]

    def workers(self) -> list[str]:
        return [name for name in self.names() if ":" in name]

    def pid(self, name: str) -> int:
        text = self.ctl("pid", name).strip()
        return int(text) if text.isdigit() else 0

    def not_running(self, *, within: float = 60.0) -> list[str]:
        """Supervised processes still not running after `within` seconds (one killed a moment ago
        is starting again: that is the supervisor doing its job)."""
        deadline = time.monotonic() + within
        while True:
            lines = [line for line in self.ctl("status").splitlines() if line.strip()]
            down = [line for line in lines if " RUNNING " not in line]
            if not down or time.monotonic() >= deadline:
                return down
            time.sleep(1.0)

    def unexpected_exits(self, mark: int) -> list[str]:
        """Processes that exited without being asked to since `mark` (supervisord's own lines)."""
        return [line for line in self.lines_since(mark) if re.search(r"exited: .*not expected", line)]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
