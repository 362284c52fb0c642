"""Celery workers and the beat scheduler inside the current process (embedded mode).

With the in-memory broker, messages can only pass between threads of one process, so the web
server (or `simulate`, or `check_workers`) runs its own workers: real Celery `WorkController`s
on the solo pool, one per thread, consuming every queue.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from celery import Celery
from celery.beat import EmbeddedService
from celery.worker import WorkController
from celery.worker import state as worker_state
from kombu.asynchronous import set_event_loop

logger = logging.getLogger(__name__)

# Worker threads are named with this prefix, so that a test can tell if one outlived its stop.
WORKER_THREAD_PREFIX = "embedded-worker-"


class _ReadyWorker(WorkController):
    """A WorkController that says when its consumer is ready to take messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: Any) -> None:
        super().on_consumer_ready(consumer)
        self.ready.set()


class _WorkerThread(threading.Thread):
    """A thread that builds its Celery worker, then runs it.

    The worker is built in its own thread, not in the caller's: building it runs Celery's Django
    fixup, which closes the building thread's database connections, and the solo pool's
    `worker_process_init` even closes their file descriptors (meant for a forked child). Done in
    the caller's thread, that returned a connection with a closed descriptor to the pool; the
    descriptor's number, soon reused by a broker socket, then took the next borrower's queries.
    """

    def __init__(self, index: int, build: Callable[[], _ReadyWorker]) -> None:
        super().__init__(name=f"{WORKER_THREAD_PREFIX}{index}", daemon=True)
        self._build = build
        self.worker: _ReadyWorker | None = None
        self.failure: BaseException | None = None
        self.built = threading.Event()

    def run(self) -> None:
        try:
            # Celery's worker takes kombu's process-wide event loop if one is set, and two
            # workers on one hub poll each other's sockets: one reads what the other was told
            # is ready and blocks in recv() for good. Unset, each worker creates its own.
            set_event_loop(None)
            self.worker = self._build()
        except BaseException as error:
            self.failure = error
            raise
        finally:
            self.built.set()
        self.worker.start()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        built = self.built.wait(timeout)
        if self.failure is not None:
            raise RuntimeError(f"{self.name} could not be built: {self.failure}") from self.failure
        remaining = max(0.0, deadline - time.monotonic())
        if not built or self.worker is None or not self.worker.ready.wait(remaining):
            raise RuntimeError(f"{self.name} did not start within {timeout} s")


class EmbeddedRuntime:
    """Worker threads (and beat, when there is a schedule) for one process."""

    def __init__(self, app: Celery, *, threads: int, queues: Iterable[str]) -> None:
        self.app = app
        self.thread_count = threads
        self.queues = list(queues)
        self._threads: list[_WorkerThread] = []
        self._beat: Any = None

    @property
    def workers(self) -> list[WorkController]:
        return [thread.worker for thread in self._threads if thread.worker is not None]

    def start(self, *, ready_timeout: float = 30.0) -> None:
        host = socket.gethostname()
        for index in range(1, self.thread_count + 1):
            build = partial(
                _ReadyWorker,
                app=self.app,
                hostname=f"embedded-{index}@{host}",
                pool="solo",
                concurrency=1,
                queues=self.queues,
                loglevel="WARNING",
                ready_callback=None,
                without_heartbeat=True,
                without_mingle=True,
                without_gossip=True,
            )
            thread = _WorkerThread(index, build)
            thread.start()
            # One at a time: each takes the process-wide event loop slot while it builds.
            thread.wait_ready(ready_timeout)
            self._threads.append(thread)
        if self.app.conf.beat_schedule:
            # The in-memory scheduler: the schedule is a few fixed intervals, nothing to persist.
            self._beat = EmbeddedService(
                self.app, thread=True, scheduler_cls="celery.beat:Scheduler", max_interval=1
            )
            self._beat.start()
        logger.info("embedded runtime: %d worker thread(s) on %s", self.thread_count, ", ".join(self.queues))

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop beat and every worker thread, or say which did not stop.

        A worker thread left running would go on consuming the broker's queues in this process,
        taking messages meant for other consumers (the next test's workers, say): a stop that
        cannot end it raises rather than leave it behind.
        """
        if self._beat is not None:
            self._beat.stop()
        # Celery's worker loop exits when this process-wide flag is set (as on a warm shutdown),
        # but only once its poll returns; a no-op message on every queue ends the wait at once.
        # A worker busy with a task sees the flag when the task ends, so the wake is repeated
        # (once per worker: a queue's wake reaches only one of the workers that share it).
        worker_state.should_terminate = 0  # type: ignore[assignment]
        deadline = time.monotonic() + timeout
        running: list[threading.Thread] = list(self._threads)
        while running and time.monotonic() < deadline:
            for queue in self.queues:
                for _ in running:
                    self.app.send_task("ops.wake", queue=queue)
            for thread in running:
                thread.join(min(1.0, max(0.0, deadline - time.monotonic())))
            running = [thread for thread in running if thread.is_alive()]
        self._threads.clear()
        if running:
            # The flag stays set, so that the stragglers still end when they can.
            names = ", ".join(thread.name for thread in running)
            raise RuntimeError(f"embedded worker thread(s) still running after {timeout} s: {names}")
        worker_state.should_terminate = None
