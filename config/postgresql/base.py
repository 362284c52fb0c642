"""Django's PostgreSQL backend with the cursor of config.postgresql (see there)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.backends.postgresql import base
from psycopg import pq

# Defined by Django only with psycopg 3, which requirements.txt pins.
_DjangoCursor: Any = base.Cursor  # type: ignore[attr-defined]
_IDLE = pq.TransactionStatus.IDLE
_COMMAND_OK = pq.ExecStatus.COMMAND_OK


class Cursor(_DjangoCursor):
    """Django's client-side binding cursor; the first `execute` of a transaction carries its BEGIN."""

    _may_carry_begin = False
    _begin: bytes | None = None

    def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
        self._may_carry_begin = True
        try:
            return super().execute(query, params, **options)
        finally:
            self._may_carry_begin = False

    def _start_query(self, query: Any = None) -> Iterator[Any]:
        connection = self._conn
        self._begin = None
        if not (
            self._may_carry_begin
            and not connection._autocommit
            and connection._pipeline is None
            and connection.pgconn.transaction_status == _IDLE
        ):
            yield from super()._start_query(query)
            return
        # The cursor's own preparation, without the connection's BEGIN (skipped in autocommit):
        # the BEGIN goes with the statement, in _execute_send.
        begin = connection._get_tx_start_command()
        connection._autocommit = True
        try:
            yield from super()._start_query(query)
        finally:
            connection._autocommit = False
        self._begin = begin

    def _execute_send(self, query: Any, *, force_extended: bool = False, binary: bool | None = None) -> None:
        if self._begin is None or force_extended or binary:
            if self._begin is not None:  # never on execute's path; if it were, begin apart
                raise RuntimeError("a statement that cannot carry BEGIN came first in a transaction")
            super()._execute_send(query, force_extended=force_extended, binary=binary)
            return
        self._query = query
        self._pgconn.send_query(self._begin + b";\n" + query.query)

    def _check_results(self, results: list[Any]) -> None:
        if self._begin is not None:
            self._begin = None
            if results and results[0].status == _COMMAND_OK:
                # BEGIN's answer. The same list goes on to _set_results: the statement's result is
                # the cursor's current one, as if it had been sent alone.
                del results[0]
        super()._check_results(results)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        server_side_binding = self.settings_dict["OPTIONS"].get("server_side_binding") is True
        params: dict[str, Any] = super().get_connection_params()
        if not server_side_binding and params.get("cursor_factory") is _DjangoCursor:
            params["cursor_factory"] = Cursor
        return params
