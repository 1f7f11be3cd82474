"""Readiness checks: each says nothing when its dependency is fine, and why not otherwise."""

from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg
from psycopg_pool import PoolTimeout

from adapters.messaging import MessageBroker

if TYPE_CHECKING:
    from adapters.platform_status import StatusReader

Check = Callable[[], str | None]


def database_reachable(status: "StatusReader") -> Check:
    def check() -> str | None:
        return None if status.reachable() else "database unreachable"

    return check


def broker_reachable(broker: MessageBroker) -> Check:
    def check() -> str | None:
        return None if broker.ping() else "message broker unreachable"

    return check


def read_models_fresh(status_reader: "StatusReader", max_lag_s: float) -> Check:
    """The query API is ready only while its read models are at most `max_lag_s` behind the event streams."""

    def check() -> str | None:
        try:
            status = status_reader.read()
        except (psycopg.Error, PoolTimeout) as error:
            return f"cannot read projection positions: {error}"
        behind = [f"{follower.follower} <- {follower.upstream}: {follower.lag_seconds:.1f} s"
                  for follower in status.followers
                  if follower.follower.startswith("read model") and (follower.lag_seconds or 0) > max_lag_s]
        return f"read models behind: {'; '.join(behind)}" if behind else None

    return check
