"""Reading the read models: short statements on connections the composition root provides (a pool of
read-only sessions that retries once on a fresh connection, see `adapters.read_database`)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed

T = TypeVar("T")


class Pool(Protocol):
    """Where the queries get a connection: `run` lends one to `work`, which may run twice (reads only)."""

    def run(self, work: Callable[[Connection[DictRow]], T]) -> T: ...


def reading(pool: Pool, work: Callable[[Connection[DictRow]], T]) -> T:
    return pool.run(work)


Query = str | SQL | Composed
Params = Sequence[Any] | Mapping[str, Any]


def fetch_all(pool: Pool, query: Query, params: Params = ()) -> list[DictRow]:
    return reading(pool, lambda connection: connection.execute(query, params).fetchall())


def fetch_one(pool: Pool, query: Query, params: Params = ()) -> DictRow | None:
    return reading(pool, lambda connection: connection.execute(query, params).fetchone())
