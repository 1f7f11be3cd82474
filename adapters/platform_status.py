"""Reading the platform's status from the database in one snapshot: each stream's head, each follower's
tracked position and lag, the relay's backlog, the parked events (the figures are `queries.platform_status`)."""

from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool, PoolTimeout

from adapters.database import CONTEXT_SCHEMAS, POOL_RECONNECT_TIMEOUT_S, READ_SCHEMA, Database
from adapters.follower_leases import LEASES
from adapters.follower_registry import registered_followers
from adapters.followers import read_models_follower
from adapters.parked_events import PARKED
from adapters.partitioned_log import PARTITION_SQL
from adapters.pool_retry import on_live_connection
from adapters.postgres_read_models import tracking_table
from adapters.read_generations import live_generation
from projections.models import ALL_MODELS
from projections.partitions import PARTITIONS, tracking_name
from projections.read_model import ReadModel
from queries.platform_status import (
    FollowerProgress,
    ParkedCount,
    PartitionProgress,
    Pending,
    PlatformStatus,
    RelayBacklog,
    StreamHead,
    follower_lag,
)


def _event_time(connection: psycopg.Connection[TupleRow], context: str, position: int) -> datetime | None:
    # The stored state is JSON in one of two shapes (adapters.event_codec): typed, where the timestamp is an
    # RFC 3339 string, or the library's tagged JSON, where it is an ISO string under _data_ (`->> '_data_'` of
    # a string is NULL, so the first form that matches wins). Read as json, not jsonb: jsonb refuses a \u0000
    # anywhere in the event, and the timestamp is all that is wanted here.
    schema = CONTEXT_SCHEMAS[context]
    row = connection.execute(SQL(
        "SELECT coalesce(stored.event -> 'timestamp' ->> '_data_', stored.event ->> 'timestamp')::timestamptz "
        "FROM (SELECT convert_from(state, 'UTF8')::json AS event FROM {0}.{1} WHERE notification_id = %s) AS stored"
    ).format(Identifier(schema), Identifier(f"{context.lower()}_events")), (position,)).fetchone()
    return row[0] if row else None


def _events_table(context: str) -> SQL | Composed:
    return SQL("{0}.{1}").format(Identifier(CONTEXT_SCHEMAS[context]), Identifier(f"{context.lower()}_events"))


def _head(connection: psycopg.Connection[TupleRow], context: str) -> StreamHead:
    row = connection.execute(SQL("SELECT max(notification_id) FROM {0}").format(_events_table(context))).fetchone()
    position = int(row[0]) if row and row[0] is not None else 0
    return StreamHead(context, position, _event_time(connection, context, position) if position else None)


def _pending(connection: psycopg.Connection[TupleRow], context: str, tracked: dict[int, int], head: int,
             topics: Sequence[str]) -> dict[int, Pending]:
    """Per partition: the events after its tracked position, up to `head`, that this follower processes."""
    partitions = sorted(tracked)
    topic_filter = SQL(" AND topic = ANY(%(topics)s)") if topics else SQL("")
    rows = connection.execute(SQL(
        "SELECT {1} AS partition, count(*), min(notification_id) FROM {0} "
        "WHERE notification_id > %(after)s AND notification_id <= %(head)s "
        "AND notification_id > (%(positions)s::bigint[])[array_position(%(partitions)s::int[], {1}::int)]{2} "
        "GROUP BY 1").format(_events_table(context), PARTITION_SQL, topic_filter),
        {"after": min(tracked.values(), default=0), "head": head, "partitions": partitions,
         "positions": [tracked[partition] for partition in partitions], "topics": list(topics)}).fetchall()
    found = {int(row[0]): Pending(int(row[1]), int(row[2]) if row[2] is not None else None) for row in rows}
    return {partition: found.get(partition, Pending(0, None)) for partition in partitions}


def _follower(connection: psycopg.Connection[TupleRow], follower: str, name: str, head: StreamHead,
              tracked: dict[int, int], owners: dict[int, str], topics: Sequence[str] = ()) -> FollowerProgress:
    pending = _pending(connection, head.context, tracked, head.position, topics)
    parts = []
    for partition in sorted(tracked):
        position, behind = follower_lag(tracked[partition], head.position, pending[partition])
        parts.append(PartitionProgress(partition, owners.get(partition), position, behind))
    behind = sum(part.lag_events for part in parts)
    lag_seconds: float | None = 0.0
    if behind and head.at is not None:
        # As old as the oldest event still to process: the furthest-behind partition's last seen event.
        at = min(tracked[part.partition] for part in parts if part.lag_events)
        seen = _event_time(connection, head.context, at) if at else None
        lag_seconds = max(0.0, (head.at - seen).total_seconds()) if seen else None
    position = min((part.position for part in parts), default=head.position)
    return FollowerProgress(follower, head.context, position, head.position, behind, lag_seconds, name, parts)


def _tracked(connection: psycopg.Connection[TupleRow], schema: str, table: str, upstream: str) -> dict[int, int]:
    """Each partition's recorded position (a partition never recorded stands at the unpartitioned row's)."""
    # Checked first rather than caught: an error would end the snapshot transaction the whole status reads in.
    exists = connection.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
    names = [tracking_name(upstream, partition) for partition in range(PARTITIONS)]
    if not exists or exists[0] is None:
        return dict.fromkeys(range(PARTITIONS), 0)
    statement = SQL("SELECT application_name, notification_id FROM {0}.{1} WHERE application_name = ANY(%s)")
    rows: dict[str, int] = dict(connection.execute(statement.format(Identifier(schema), Identifier(table)),
                                                   ([*names, upstream],)).fetchall())
    legacy = int(rows.get(upstream, 0))
    return {partition: int(rows.get(name, legacy)) for partition, name in enumerate(names)}


def _owners(connection: psycopg.Connection[TupleRow]) -> dict[str, dict[int, str]]:
    owners: dict[str, dict[int, str]] = {}
    exists = connection.execute("SELECT to_regclass(%s)", (LEASES,)).fetchone()
    if not exists or exists[0] is None:
        return owners
    for follower, partition, owner in connection.execute(
            f"SELECT follower, partition, owner FROM {LEASES} WHERE owner IS NOT NULL AND expires_at > now()"):
        owners.setdefault(str(follower), {})[int(partition)] = str(owner)
    return owners


def platform_status(database: Database) -> PlatformStatus:
    """Read on a connection of its own (the CLI, tests); servers use a `StatusReader`."""
    with database.connect() as connection:
        return _read_status(connection)


def _read_status(connection: psycopg.Connection[TupleRow]) -> PlatformStatus:
    # One snapshot for every figure: heads read first and positions read later would otherwise disagree
    # (a follower "behind" at the head, or past it) whenever events arrive in between.
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    connection.read_only = True
    with connection.transaction():
        # On this connection: a status read opens none of its own (the process keeps to its budget).
        pairs = [(model, live_generation(connection, model)) for model in ALL_MODELS.values()]
        return _status_in(connection, pairs)


STATUS_TIMEOUT_S = 2.0
"""A probe's wait for the status connection: readiness and metrics answer within seconds when the database is
down (a load balancer's probe gives up after a few), instead of waiting out a request's patience."""


class StatusReader:
    """A server's readiness checks and metrics scrapes: one connection at most, opened when first needed and
    kept, instead of a new one for every probe (so a busy moment cannot push the process past its budget)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] = ConnectionPool(
            database.url, min_size=0, max_size=1, timeout=STATUS_TIMEOUT_S, open=False, name="status",
            reconnect_timeout=POOL_RECONNECT_TIMEOUT_S, kwargs={"autocommit": True, "connect_timeout": 2})
        self._opened = False

    def _open(self) -> None:
        if not self._opened:
            self._pool.open(wait=False)
            self._opened = True

    def read(self) -> PlatformStatus:
        self._open()
        return on_live_connection(self._pool, _read_status)

    def reachable(self) -> bool:
        self._open()
        try:
            on_live_connection(self._pool, lambda connection: connection.execute("SELECT 1"))
        except (psycopg.Error, PoolTimeout):
            return False
        return True

    def close(self) -> None:
        if self._opened:
            self._pool.close()


def _status_in(connection: psycopg.Connection[TupleRow],
               pairs: Sequence[tuple[ReadModel, int]]) -> PlatformStatus:
    heads = {context: _head(connection, context) for context in CONTEXT_SCHEMAS}
    owners = _owners(connection)
    followers = []
    for model, generation in pairs:
        for upstream in sorted(model.upstreams):
            name = read_models_follower(upstream)
            tracked = _tracked(connection, READ_SCHEMA, tracking_table(model, generation), upstream)
            followers.append(_follower(connection, f"read model {model.name} (g{generation})", name, heads[upstream],
                                       tracked, owners.get(name, {})))
    for follower in registered_followers(connection):
        tracked = _tracked(connection, follower.tracking_schema, follower.tracking_table, follower.upstream)
        followers.append(_follower(connection, follower.label, follower.name, heads[follower.upstream], tracked,
                                   owners.get(follower.name, {}), follower.topics))
    row = connection.execute(
        f"SELECT count(*) FILTER (WHERE published_at IS NULL), "
        f"extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL)), "
        f"count(*) FILTER (WHERE published_at IS NOT NULL) FROM {READ_SCHEMA}.outbox").fetchone()
    assert row is not None
    relay = RelayBacklog(int(row[0]), float(row[1]) if row[1] is not None else None, int(row[2]))
    return PlatformStatus(list(heads.values()), followers, relay, _parked(connection))


def _parked(connection: psycopg.Connection[TupleRow]) -> list[ParkedCount]:
    exists = connection.execute("SELECT to_regclass(%s)", (PARKED,)).fetchone()
    if not exists or exists[0] is None:
        return []
    return [ParkedCount(str(row[0]), int(row[1]), int(row[2]), float(row[3])) for row in connection.execute(
        f"SELECT follower, count(*) FILTER (WHERE status <> 'held'), count(*) FILTER (WHERE status = 'held'), "
        f"extract(epoch FROM now() - min(parked_at)) FROM {PARKED} WHERE status IN ('parked', 'held', 'retry') "
        "GROUP BY follower ORDER BY follower")]

