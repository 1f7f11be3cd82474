"""What a worker or projector process shares among its followers: a small pool, its leases, one LISTEN."""

from collections.abc import Iterable, Mapping
from typing import Any, Final

from psycopg_pool import ConnectionPool

from adapters.database import POOL_RECONNECT_TIMEOUT_S, Database
from adapters.follower_leases import LeaseManager
from adapters.log_wakeups import LogWakeups

SHARED_CONNECTIONS: Final = 2
"""Log reads, lease heartbeats and the relay's statements: short, so two connections serve them all."""


class FollowerHost:
    def __init__(self, database: Database, followers: Mapping[str, int], channels: Iterable[str],
                 owner: str | None = None) -> None:
        self.database = database
        self.pool: ConnectionPool[Any] = ConnectionPool(
            database.url, min_size=1, max_size=SHARED_CONNECTIONS, open=False, timeout=10, name="followers",
            reconnect_timeout=POOL_RECONNECT_TIMEOUT_S,
            kwargs={"autocommit": True})
        self.leases = LeaseManager(self.pool, followers, owner=owner)
        self.wakeups = LogWakeups(database, channels)

    def start(self) -> None:
        self.pool.open()
        self.leases.start()
        self.wakeups.start()

    def stop(self) -> None:
        self.wakeups.stop()
        self.leases.stop()
        self.pool.close()
