"""A worker keeps its database connection from task to task while tasks keep coming, lets go of
it after an error or when PostgreSQL ended it, and has the pool check it again after a quiet
spell."""

from __future__ import annotations

import time

import pytest
from django.db import connection

import config.celery as worker


def _backend() -> object:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _task(body: object = None) -> object:
    """What Celery's signals do around a task, with the task's own work in between."""
    worker._recheck_connections_before_task()
    result = _backend() if body is None else body
    worker._let_go_of_failed_connections()
    return result


@pytest.fixture
def pooled(postgres_url: str) -> None:
    if not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("the test database has no connection pool")
    connection.close()
    worker._quiet.last_task_ended = time.monotonic()


def test_tasks_in_a_row_use_the_same_connection(pooled: None) -> None:
    first = _task()
    held = connection.connection
    assert [_task() for _ in range(5)] == [first] * 5
    assert connection.connection is held, "not lent back to the pool between tasks"


def test_a_connection_that_saw_an_error_is_let_go(pooled: None) -> None:
    _task()
    connection.errors_occurred = True  # as Django marks it when a statement failed on it
    worker._let_go_of_failed_connections()
    assert connection.connection is None


def test_after_a_quiet_spell_the_pool_checks_the_connection_again(pooled: None) -> None:
    _task()
    assert connection.connection is not None
    worker._quiet.last_task_ended = time.monotonic() - worker.CONNECTION_RECHECK_AFTER - 1
    worker._recheck_connections_before_task()
    assert connection.connection is None, "lent back, so that the pool checks it before lending it again"


def test_a_backend_ended_while_idle_costs_no_failed_task(pooled: None, postgres_url: str) -> None:
    """PostgreSQL restarted (or an administrator ended the backend) between two tasks: the worker
    sees the notice it left on the idle connection and takes another before the task runs."""
    import select

    import psycopg

    doomed = _task()
    socket = connection.connection.pgconn.socket
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [doomed])
    readable, _, _ = select.select([socket], [], [], 10)
    assert readable, "PostgreSQL left no notice on the connection it ended"
    assert _task() != doomed


def test_a_connection_left_in_a_transaction_is_rolled_back_not_kept(pooled: None) -> None:
    from django.db import transaction

    transaction.atomic().__enter__()  # a task that never ended its transaction (a bug)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE left_open (n int)")
    worker._let_go_of_failed_connections()
    assert not connection.in_atomic_block
    assert _task() is not None, "the next task runs"
