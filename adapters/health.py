"""Readiness checks: each says nothing when its dependency is fine, and why not otherwise."""

from collections.abc import Callable

import psycopg

from adapters.database import Database
from adapters.messaging import MessageBroker

Check = Callable[[], str | None]


def database_reachable(database: Database) -> Check:
    def check() -> str | None:
        try:
            with psycopg.connect(database.url, connect_timeout=3) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error as error:
            return f"database unreachable: {error}".strip()
        return None

    return check


def broker_reachable(broker: MessageBroker) -> Check:
    def check() -> str | None:
        return None if broker.ping() else "message broker unreachable"

    return check


def read_models_fresh(database: Database, max_lag_s: float) -> Check:
    """The query API is ready only while its read models are at most `max_lag_s` behind the event streams."""

    def check() -> str | None:
        from adapters.positions import platform_status

        try:
            status = platform_status(database)
        except psycopg.Error as error:
            return f"cannot read projection positions: {error}"
        behind = [f"{follower.follower} <- {follower.upstream}: {follower.lag_seconds:.1f} s"
                  for follower in status.followers
                  if follower.follower.startswith("read model") and (follower.lag_seconds or 0) > max_lag_s]
        return f"read models behind: {'; '.join(behind)}" if behind else None

    return check
