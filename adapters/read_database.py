"""The query side's connections: a pool whose every session refuses to write."""

from collections.abc import Callable
from typing import TypeVar

from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from adapters.database import POOL_RECONNECT_TIMEOUT_S, Database
from adapters.pool_retry import on_live_connection

T = TypeVar("T")


class ReadPool(ConnectionPool[Connection[DictRow]]):
    """The read-only sessions, lent to the queries (`queries.reading.Pool`) one statement's work at a time."""

    def run(self, work: Callable[[Connection[DictRow]], T]) -> T:
        return on_live_connection(self, work)


# How long a request waits for a connection before the database counts as unreachable (503): longer than a
# busy moment, shorter than a client's patience.
CHECKOUT_TIMEOUT_S = 5.0


def read_only_pool(database: Database, *, min_size: int = 1, max_size: int = 8) -> ReadPool:
    """Sessions with `default_transaction_read_only`: no code path of the query side can write.

    Connections are not checked at checkout (no round trip per query); the queries retry once on a fresh
    connection when a pooled one turns out to be dead (`adapters.pool_retry`).
    """
    return ReadPool(
        database.url,
        connection_class=Connection[DictRow],
        min_size=min_size,
        max_size=max_size,
        timeout=CHECKOUT_TIMEOUT_S,
        reconnect_timeout=POOL_RECONNECT_TIMEOUT_S,
        open=True,
        name="read-only",
        kwargs={"autocommit": True, "row_factory": dict_row, "options": "-c default_transaction_read_only=on"},
    )
