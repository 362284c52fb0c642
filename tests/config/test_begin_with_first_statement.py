"""On PostgreSQL a transaction's BEGIN travels with its first statement (config.postgresql): one
round trip fewer per transaction, and transactions that behave exactly as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from config.postgresql.base import Cursor


@pytest.fixture
def commands(postgres_url: str) -> Iterator[list[bytes]]:
    """The commands psycopg sends on its own (BEGIN, COMMIT, ROLLBACK), on a scratch table."""
    connection.ensure_connection()
    raw = connection.connection
    sent: list[bytes] = []
    own = raw._exec_command

    def spy(command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(bytes(command))
        return own(command, *args, **kwargs)

    raw._exec_command = spy
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE scratch (n integer PRIMARY KEY)")
    try:
        yield sent
    finally:
        del raw._exec_command
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS scratch")


def _numbers() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM scratch ORDER BY n")
        return [n for (n,) in cursor.fetchall()]


def test_the_backend_uses_the_cursor(postgres_url: str) -> None:
    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, Cursor)


def test_the_first_statement_carries_begin_and_the_transaction_is_real(commands: list[bytes]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO scratch VALUES (%s), (%s)", [1, 2])
        assert cursor.rowcount == 2  # the statement's own count, not BEGIN's
        cursor.execute("SELECT count(*) FROM scratch")
        assert cursor.fetchone() == (2,)
    assert commands == [b"COMMIT"]  # no BEGIN of psycopg's own
    assert _numbers() == [1, 2]

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO scratch VALUES (3)")
        cursor.execute("INSERT INTO scratch VALUES (1)")  # a duplicate key
    assert _numbers() == [1, 2], "the first statement's insert was rolled back with the rest"


def test_a_first_statement_that_fails_rolls_back_and_the_connection_goes_on(commands: list[bytes]) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 / 0")
    assert connection.connection.info.transaction_status == 0  # idle: rolled back
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO scratch VALUES (7) RETURNING n")
        assert cursor.fetchall() == [(7,)]
    assert _numbers() == [7]


def test_a_savepoint_first_and_statements_of_several_parts(commands: list[bytes]) -> None:
    with transaction.atomic():
        try:
            # The savepoint's SAVEPOINT is the transaction's first statement.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO scratch VALUES (1)")
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO scratch VALUES (2) RETURNING n; SELECT 42")
            assert cursor.fetchall() == [(2,)]  # the first statement's result comes first
    assert _numbers() == [2]


def test_what_cannot_carry_begin_gets_psycopgs_own(commands: list[bytes]) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO scratch VALUES (%s)", [(1,), (2,)])
        raise RuntimeError("roll back")
    assert commands[0].startswith(b"BEGIN")
    assert _numbers() == []


def test_autocommit_sends_no_begin(commands: list[bytes]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO scratch VALUES (5)")
    assert commands == []
    assert connection.connection.info.transaction_status == 0
    assert _numbers() == [5]
