"""Child processes whose output a test can wait on, line by line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WatchedProcess:
    """A process in its own session; its merged output is collected by a reader thread."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str], cwd: Path) -> None:
        self.args = list(args)
        self.env = env
        self.cwd = cwd
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> WatchedProcess:
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """Block until a line matches `pattern`; fail if the process exits or time runs out."""
        regex = re.compile(pattern)
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                assert self.process is not None
                if self.process.poll() is not None and seen == len(self.lines):
                    raise AssertionError(
                        f"process exited ({self.process.returncode}) before {pattern!r}:\n{self.output}"
                    )
                if not self._changed.wait(timeout):
                    raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{self.output}")

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C to the whole process group; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"still running {timeout} s after Ctrl-C:\n{self.output}") from None

    def group_alive(self) -> bool:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
