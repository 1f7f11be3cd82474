"""One more try on a fresh connection when a pooled one turns out to be dead.

A connection pooled before a database restart is dead, and nothing says so until it is used: checking every
connection at checkout would cost a round trip on every statement. Instead work that fails because its
connection broke makes the pool check its idle connections (dropping the dead ones) and runs once more on a
fresh one. Only for work that may safely run twice (reads, or writes that did not reach the server: a dead
connection fails before the statement is sent). If the second attempt fails too, the database really is
unreachable and the error goes up (an API answers 503).
"""

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

T = TypeVar("T")
C = TypeVar("C", bound=psycopg.Connection[Any])


def on_live_connection(pool: ConnectionPool[C], work: Callable[[C], T]) -> T:
    """`work` on a pooled connection, retried once on a fresh one if the connection turned out to be dead."""
    try:
        with pool.connection() as connection:
            return work(connection)
    except PoolTimeout:
        raise  # no connection could be had at all: a second wait would only double the time to a 503
    except psycopg.OperationalError:
        pool.check()
        with pool.connection() as connection:
            return work(connection)
