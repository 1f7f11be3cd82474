"""Idempotency keys in PostgreSQL: the first request with a key runs, every repeat gets its answer."""

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from psycopg import Connection
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from adapters.database import POOL_RECONNECT_TIMEOUT_S, READ_SCHEMA, Database
from adapters.pool_retry import on_live_connection


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class IdempotencyClaim:
    """The outcome of claiming a client's key: ours to run, or somebody else's answer."""

    claimed: bool
    request_hash: str
    response: StoredResponse | None


# How long a request waits for a connection before the database counts as unreachable (503).
CHECKOUT_TIMEOUT_S: Final = 5.0
# A claim whose request never completed (its process died) may be taken over after this long.
STALE_CLAIM_AFTER: Final = timedelta(seconds=30)


class PostgresIdempotencyStore:
    def __init__(self, database: Database, *, max_size: int = 2) -> None:
        self._pool: ConnectionPool[Connection[TupleRow]] = ConnectionPool(
            database.url, min_size=1, max_size=max_size, open=True, timeout=CHECKOUT_TIMEOUT_S,
            kwargs={"autocommit": True}, name="idempotency",
            reconnect_timeout=POOL_RECONNECT_TIMEOUT_S)
        self._table = f"{READ_SCHEMA}.idempotency_keys"

    def close(self) -> None:
        self._pool.close()

    def connection(self) -> AbstractContextManager[Connection[TupleRow]]:
        """A connection of this small pool, lent for other short writes of the command side (an operator's
        retry or skip of a parked event), so they cost the process no connection of their own."""
        return self._pool.connection()

    def claim(self, scope: str, key: str, request_hash: str) -> IdempotencyClaim:
        claim = on_live_connection(self._pool, lambda connection: self._claim(connection, scope, key, request_hash))
        # None: abandoned between our insert attempt and the read, so the key is free again: try again.
        return claim if claim is not None else self.claim(scope, key, request_hash)

    def _claim(self, connection: Connection[TupleRow], scope: str, key: str,
               request_hash: str) -> IdempotencyClaim | None:
        inserted = connection.execute(
            f"INSERT INTO {self._table} (scope, key, request_hash) VALUES (%s, %s, %s) "
            "ON CONFLICT (scope, key) DO NOTHING RETURNING 1",
            (scope, key, request_hash),
        ).fetchone()
        if inserted:
            return IdempotencyClaim(claimed=True, request_hash=request_hash, response=None)
        taken_over = connection.execute(
            f"UPDATE {self._table} SET claimed_at = now() WHERE scope = %s AND key = %s "
            "AND request_hash = %s AND completed_at IS NULL AND claimed_at < now() - %s RETURNING 1",
            (scope, key, request_hash, STALE_CLAIM_AFTER),
        ).fetchone()
        if taken_over:
            return IdempotencyClaim(claimed=True, request_hash=request_hash, response=None)
        row = connection.execute(
            f"SELECT request_hash, status_code, body, headers FROM {self._table} WHERE scope = %s AND key = %s",
            (scope, key),
        ).fetchone()
        if row is None:
            return None
        stored_hash, status_code, body, headers = row
        response = None
        if status_code is not None:
            response = StoredResponse(status_code=status_code, body=bytes(body), headers=dict(headers or {}))
        return IdempotencyClaim(claimed=False, request_hash=stored_hash, response=response)

    def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        self._execute(f"UPDATE {self._table} SET status_code = %s, body = %s, headers = %s, completed_at = now() "
                      "WHERE scope = %s AND key = %s",
                      (response.status_code, response.body, json.dumps(response.headers), scope, key))

    def abandon(self, scope: str, key: str) -> None:
        self._execute(f"DELETE FROM {self._table} WHERE scope = %s AND key = %s AND completed_at IS NULL",
                      (scope, key))

    def _execute(self, statement: str, params: tuple[Any, ...]) -> None:
        # Both statements are idempotent: running one again on a fresh connection changes nothing more.
        on_live_connection(self._pool, lambda connection: connection.execute(statement, params))
