"""Idempotency keys in PostgreSQL: the first request with a key runs, every repeat gets its answer."""

import json
from datetime import timedelta
from typing import Final

from psycopg_pool import ConnectionPool

from adapters.database import READ_SCHEMA, Database
from commands.ports import IdempotencyClaim, StoredResponse

# A claim whose request never completed (its process died) may be taken over after this long.
STALE_CLAIM_AFTER: Final = timedelta(seconds=30)


class PostgresIdempotencyStore:
    def __init__(self, database: Database, *, max_size: int = 4) -> None:
        self._pool = ConnectionPool(database.url, min_size=1, max_size=max_size, open=True,
                                    kwargs={"autocommit": True}, name="idempotency")
        self._table = f"{READ_SCHEMA}.idempotency_keys"

    def close(self) -> None:
        self._pool.close()

    def claim(self, scope: str, key: str, request_hash: str) -> IdempotencyClaim:
        with self._pool.connection() as connection:
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
        if row is None:  # abandoned between our insert attempt and the read: try again
            return self.claim(scope, key, request_hash)
        stored_hash, status_code, body, headers = row
        response = None
        if status_code is not None:
            response = StoredResponse(status_code=status_code, body=bytes(body), headers=dict(headers or {}))
        return IdempotencyClaim(claimed=False, request_hash=stored_hash, response=response)

    def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        with self._pool.connection() as connection:
            connection.execute(
                f"UPDATE {self._table} SET status_code = %s, body = %s, headers = %s, completed_at = now() "
                "WHERE scope = %s AND key = %s",
                (response.status_code, response.body, json.dumps(response.headers), scope, key),
            )

    def abandon(self, scope: str, key: str) -> None:
        with self._pool.connection() as connection:
            connection.execute(
                f"DELETE FROM {self._table} WHERE scope = %s AND key = %s AND completed_at IS NULL", (scope, key)
            )
