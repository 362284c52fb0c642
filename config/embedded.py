"""Celery workers and the beat scheduler inside the current process (embedded mode).

With the in-memory broker, messages can only pass between threads of one process, so the web
server (or `simulate`, or `check_workers`) runs its own workers: real Celery `WorkController`s
on the solo pool, one per thread, consuming every queue.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from typing import Any

from celery import Celery
from celery.beat import EmbeddedService
from celery.worker import WorkController
from celery.worker import state as worker_state

logger = logging.getLogger(__name__)


class _ReadyWorker(WorkController):
    """A WorkController that says when its consumer is ready to take messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: Any) -> None:
        super().on_consumer_ready(consumer)
        self.ready.set()


class EmbeddedRuntime:
    """Worker threads (and beat, when there is a schedule) for one process."""

    def __init__(self, app: Celery, *, threads: int, queues: Iterable[str]) -> None:
        self.app = app
        self.thread_count = threads
        self.queues = list(queues)
        self._workers: list[tuple[_ReadyWorker, threading.Thread]] = []
        self._beat: Any = None

    def start(self, *, ready_timeout: float = 30.0) -> None:
        host = socket.gethostname()
        for index in range(self.thread_count):
            worker = _ReadyWorker(
                app=self.app,
                hostname=f"embedded-{index + 1}@{host}",
                pool="solo",
                concurrency=1,
                queues=self.queues,
                loglevel="WARNING",
                ready_callback=None,
                without_heartbeat=True,
                without_mingle=True,
                without_gossip=True,
            )
            thread = threading.Thread(target=worker.start, name=f"embedded-worker-{index + 1}", daemon=True)
            thread.start()
            if not worker.ready.wait(ready_timeout):
                raise RuntimeError(f"embedded worker {index + 1} did not start within {ready_timeout} s")
            self._workers.append((worker, thread))
        if self.app.conf.beat_schedule:
            # The in-memory scheduler: the schedule is a few fixed intervals, nothing to persist.
            self._beat = EmbeddedService(
                self.app, thread=True, scheduler_cls="celery.beat:Scheduler", max_interval=1
            )
            self._beat.start()
        logger.info("embedded runtime: %d worker thread(s) on %s", self.thread_count, ", ".join(self.queues))

    def stop(self, *, timeout: float = 10.0) -> None:
        if self._beat is not None:
            self._beat.stop()
        # Celery's worker loop exits when this process-wide flag is set (as on a warm shutdown),
        # but only once its poll returns; a no-op message on every queue ends the wait at once.
        worker_state.should_terminate = 0  # type: ignore[assignment]
        if self._workers:
            for queue in self.queues:
                self.app.send_task("ops.wake", queue=queue)
        for _, thread in self._workers:
            thread.join(timeout)
        worker_state.should_terminate = None
        self._workers.clear()
