"""SQLite for embedded mode: write transactions of this process queue on a lock.

SQLite allows one writer at a time. With BEGIN IMMEDIATE a second writer waits in SQLite's
busy handler, which sleeps in growing steps (up to 100 ms) and wakes up late, long after the
lock was freed. In embedded mode every writer is a thread of one process, so they queue on a
Python lock first and start the moment the previous writer commits. IMMEDIATE and the busy
timeout still guard against other processes using the same file (a management command).
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.sqlite3 import base

_writer = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_writer = False

    def _start_transaction_under_autocommit(self) -> None:
        _writer.acquire()
        self._holds_writer = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            _writer.release()

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]
        finally:
            self._release_writer()
