"""Where every follower of the event streams stands: heads, tracking positions, lags, the relay's backlog."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Identifier

from adapters.database import CONTEXT_SCHEMAS, READ_SCHEMA, Database
from adapters.postgres_read_models import tracking_table
from adapters.read_generations import live_generations
from commands.deadlines import PaymentDeadlines
from commands.policies import SAGA_EDGES
from projections.models import ALL_MODELS


@dataclass(frozen=True)
class StreamHead:
    context: str
    position: int
    at: datetime | None


@dataclass(frozen=True)
class FollowerPosition:
    follower: str
    """e.g. `read model orders (g1)` or `saga: Inventory`."""
    upstream: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float | None


@dataclass(frozen=True)
class RelayBacklog:
    unsent: int
    oldest_unsent_age_s: float | None
    sent_kept: int


@dataclass(frozen=True)
class PlatformStatus:
    heads: list[StreamHead]
    followers: list[FollowerPosition]
    relay: RelayBacklog


def _event_time(connection: psycopg.Connection[TupleRow], context: str, position: int) -> datetime | None:
    # The stored state is the library's JSON; its timestamp is an ISO string under _data_. Read as json, not
    # jsonb: jsonb refuses a \u0000 anywhere in the event, and the timestamp is all that is wanted here.
    schema = CONTEXT_SCHEMAS[context]
    row = connection.execute(SQL(
        "SELECT ((convert_from(state, 'UTF8')::json -> 'timestamp' ->> '_data_'))::timestamptz "
        "FROM {0}.{1} WHERE notification_id = %s").format(Identifier(schema), Identifier(f"{context.lower()}_events")),
        (position,)).fetchone()
    return row[0] if row else None


def _head(connection: psycopg.Connection[TupleRow], context: str) -> StreamHead:
    schema = CONTEXT_SCHEMAS[context]
    row = connection.execute(SQL("SELECT max(notification_id) FROM {0}.{1}").format(
        Identifier(schema), Identifier(f"{context.lower()}_events"))).fetchone()
    position = int(row[0]) if row and row[0] is not None else 0
    return StreamHead(context, position, _event_time(connection, context, position) if position else None)


def _follower(connection: psycopg.Connection[TupleRow], follower: str, head: StreamHead,
              position: int | None, topics: Sequence[str] = ()) -> FollowerPosition:
    at = position or 0
    behind = _events_after(connection, head.context, at, topics)
    lag_seconds: float | None = 0.0
    if behind and head.at is not None:
        seen = _event_time(connection, head.context, at) if at else None
        lag_seconds = max(0.0, (head.at - seen).total_seconds()) if seen else None
    return FollowerPosition(follower, head.context, at, head.position, behind, lag_seconds)


def _events_after(connection: psycopg.Connection[TupleRow], context: str, position: int,
                  topics: Sequence[str]) -> int:
    """Events still to process; a follower with a topic filter only ever records the events it wanted."""
    table = SQL("{0}.{1}").format(Identifier(CONTEXT_SCHEMAS[context]), Identifier(f"{context.lower()}_events"))
    if topics:
        row = connection.execute(SQL("SELECT count(*) FROM {0} WHERE notification_id > %s AND topic = ANY(%s)")
                                 .format(table), (position, list(topics))).fetchone()
    else:
        row = connection.execute(SQL("SELECT count(*) FROM {0} WHERE notification_id > %s").format(table),
                                 (position,)).fetchone()
    return int(row[0]) if row else 0


def _tracked(connection: psycopg.Connection[TupleRow], schema: str, table: str, upstream: str) -> int | None:
    try:
        row = connection.execute(SQL("SELECT notification_id FROM {0}.{1} WHERE application_name = %s").format(
            Identifier(schema), Identifier(table)), (upstream,)).fetchone()
    except psycopg.errors.UndefinedTable:
        connection.rollback()
        return None
    return int(row[0]) if row else None


def platform_status(database: Database) -> PlatformStatus:
    pairs = live_generations(database, ALL_MODELS.values())
    with database.connect() as connection:
        heads = {context: _head(connection, context) for context in CONTEXT_SCHEMAS}
        followers = []
        for model, generation in pairs:
            for upstream in sorted(model.upstreams):
                position = _tracked(connection, READ_SCHEMA, tracking_table(model, generation), upstream)
                followers.append(_follower(connection, f"read model {model.name} (g{generation})", heads[upstream],
                                           position))
        for upstream_class, policy in SAGA_EDGES:
            upstream = upstream_class.name
            position = _tracked(connection, CONTEXT_SCHEMAS[policy.name], f"{policy.name.lower()}_tracking", upstream)
            followers.append(_follower(connection, f"saga: {policy.name}", heads[upstream], position, policy.topics))
        position = _tracked(connection, "payments", "paymentdeadlines_tracking", "Payments")
        followers.append(_follower(connection, "payment deadlines", heads["Payments"], position,
                                   PaymentDeadlines.topics))
        row = connection.execute(
            f"SELECT count(*) FILTER (WHERE published_at IS NULL), "
            f"extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL)), "
            f"count(*) FILTER (WHERE published_at IS NOT NULL) FROM {READ_SCHEMA}.outbox").fetchone()
    assert row is not None
    relay = RelayBacklog(int(row[0]), float(row[1]) if row[1] is not None else None, int(row[2]))
    return PlatformStatus(list(heads.values()), followers, relay)

