"""The query side's object graph: read-only connections, the broker its push is fed from, the status reader.

Built from adapters, queries and projections only: a process serving reads loads nothing of the write side.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from adapters.database import Database
from adapters.messaging import MessageBroker
from adapters.metrics import install_platform_metrics
from adapters.platform_status import StatusReader
from adapters.read_database import ReadPool, read_only_pool
from adapters.settings import Settings
from composition.broker import open_broker
from composition.database import locate_database


@dataclass
class ReadSide:
    """What the query API needs: read-only connections and the broker its push is fed from."""

    settings: Settings
    database: Database
    pool: ReadPool
    broker: MessageBroker
    status: StatusReader


@contextmanager
def open_read_side(settings: Settings, database: Database | None = None, broker: MessageBroker | None = None,
                   status: StatusReader | None = None, pool_size: int | None = None) -> Iterator[ReadSide]:
    """The query side; `broker` and `status` are given when it shares a process with the writers (an
    in-process broker, one status connection), `pool_size` to bound its read-only pool."""
    with ExitStack() as stack:
        # No migrate here: the query side never writes, so it can point at a read replica.
        database = database or locate_database(settings)
        if status is None:
            status = StatusReader(database)
            stack.callback(status.close)
        install_platform_metrics(status)
        size = pool_size or max(2, settings.db_pool_size + settings.db_max_overflow)
        pool = read_only_pool(database, max_size=size)
        stack.callback(pool.close)
        if broker is None:
            broker = open_broker(settings)
            stack.callback(broker.close)
        yield ReadSide(settings=settings, database=database, pool=pool, broker=broker, status=status)
