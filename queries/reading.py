"""Reading the read models: short statements on a pool of read-only connections that may have gone stale
(each is retried once on a fresh connection, see `adapters.pool_retry`)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed
from psycopg_pool import ConnectionPool

from adapters.pool_retry import on_live_connection

Pool = ConnectionPool[Connection[DictRow]]
T = TypeVar("T")


def reading(pool: Pool, work: Callable[[Connection[DictRow]], T]) -> T:
    return on_live_connection(pool, work)


Query = str | SQL | Composed
Params = Sequence[Any] | Mapping[str, Any]


def fetch_all(pool: Pool, query: Query, params: Params = ()) -> list[DictRow]:
    return reading(pool, lambda connection: connection.execute(query, params).fetchall())


def fetch_one(pool: Pool, query: Query, params: Params = ()) -> DictRow | None:
    return reading(pool, lambda connection: connection.execute(query, params).fetchone())
