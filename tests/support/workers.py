"""Real Celery worker processes for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from orchestrator.commands import queues_all


class WorkerProcess:
    """`celery worker` in a child process of its own, on the solo pool like production."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        python: str,
        cwd: Path,
        queues: tuple[str, ...] | None = None,
        name: str = "test-worker",
    ) -> None:
        self.env = env
        self.python = python
        self.cwd = cwd
        self.queues = queues or queues_all()
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    def celery(self, *args: str) -> list[str]:
        return [self.python, "-m", "celery", "--app", "config", *args, "--loglevel", "WARNING"]

    def args(self) -> list[str]:
        return self.celery(
            "worker",
            "--pool",
            "solo",
            "--queues",
            ",".join(self.queues),
            "--hostname",
            f"{self.name}@%h",
            "--without-mingle",
            "--without-gossip",
        )

    def start(self) -> None:
        self.process = subprocess.Popen(self.args(), env=self.env, cwd=self.cwd, start_new_session=True)

    def terminate(self) -> None:
        """Ask for a warm shutdown without waiting for it (see `stop`)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class BeatProcess(WorkerProcess):
    """`celery beat`: sends the timer tick, as in production."""

    def args(self) -> list[str]:
        return self.celery("beat", "--scheduler", "celery.beat:Scheduler")


def stop_all(processes: list[WorkerProcess]) -> None:
    """Stop several processes in parallel: warm shutdowns take seconds each."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()


ROOT = Path(__file__).resolve().parents[2]


class Cluster:
    """Named worker processes (and beat) of the tests, started and stopped one by one."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: dict[str, WorkerProcess] = {}

    def start(self, name: str, *, queues: tuple[str, ...] | None = None) -> None:
        """Start `beat`, or a worker named `name` consuming `queues` (the queue `name` by default)."""
        if name == "beat":
            process: WorkerProcess = BeatProcess(env=self.env, python=sys.executable, cwd=ROOT)
        else:
            process = WorkerProcess(
                env=self.env, python=sys.executable, cwd=ROOT, queues=queues or (name,), name=name
            )
        process.start()
        self.processes[name] = process

    def kill(self, name: str) -> None:
        self.processes.pop(name).kill()

    def stop_all(self) -> None:
        stop_all(list(self.processes.values()))
