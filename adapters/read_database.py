"""The query side's connections: a pool whose every session refuses to write."""

from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from adapters.database import Database

ReadPool = ConnectionPool[Connection[DictRow]]


def read_only_pool(database: Database, *, min_size: int = 1, max_size: int = 8) -> ReadPool:
    """Sessions with `default_transaction_read_only`: no code path of the query side can write."""
    return ConnectionPool(
        database.url,
        connection_class=Connection[DictRow],
        min_size=min_size,
        max_size=max_size,
        open=True,
        name="read-only",
        kwargs={"autocommit": True, "row_factory": dict_row, "options": "-c default_transaction_read_only=on"},
    )
