"""Where every follower of the event streams stands: heads, tracking positions, lags, the relay's backlog."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Composed, Identifier

from adapters.database import CONTEXT_SCHEMAS, READ_SCHEMA, Database
from adapters.postgres_read_models import tracking_table
from adapters.read_generations import live_generations
from commands.deadlines import PaymentDeadlines
from commands.policies import SAGA_EDGES
from projections.model import ReadModel
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


@dataclass(frozen=True)
class Pending:
    """What a follower still has to process, up to the head read in the same snapshot."""

    count: int
    first: int | None
    """The position of the first of them; None when there is none."""


def follower_lag(tracked: int, head: int, pending: Pending) -> tuple[int, int]:
    """The one rule for a follower's position and lag, so that the two always agree.

    A follower with a topic filter never records the events it skips, so its tracked position can stay below
    the head while it has nothing to do. Events it skips count as seen: its position is just before the first
    event it still has to process, or the head when there is none. Lag is the number of events it still has
    to process. So position = head exactly when lag = 0, and the position never passes the head.
    """
    if pending.count == 0 or pending.first is None:
        return head, 0
    return max(min(tracked, head), min(pending.first - 1, head)), pending.count


def _pending(connection: psycopg.Connection[TupleRow], context: str, tracked: int, head: int,
             topics: Sequence[str]) -> Pending:
    """Events after `tracked` and up to `head` that this follower processes (all, without a topic filter)."""
    table = _events_table(context)
    if topics:
        row = connection.execute(SQL("SELECT count(*), min(notification_id) FROM {0} WHERE notification_id > %s "
                                     "AND notification_id <= %s AND topic = ANY(%s)").format(table),
                                 (tracked, head, list(topics))).fetchone()
    else:
        row = connection.execute(SQL("SELECT count(*), min(notification_id) FROM {0} WHERE notification_id > %s "
                                     "AND notification_id <= %s").format(table), (tracked, head)).fetchone()
    if row is None:
        return Pending(0, None)
    return Pending(int(row[0]), int(row[1]) if row[1] is not None else None)


def _follower(connection: psycopg.Connection[TupleRow], follower: str, head: StreamHead,
              tracked: int | None, topics: Sequence[str] = ()) -> FollowerPosition:
    at = tracked or 0
    position, behind = follower_lag(at, head.position, _pending(connection, head.context, at, head.position, topics))
    lag_seconds: float | None = 0.0
    if behind and head.at is not None:
        seen = _event_time(connection, head.context, at) if at else None
        lag_seconds = max(0.0, (head.at - seen).total_seconds()) if seen else None
    return FollowerPosition(follower, head.context, position, head.position, behind, lag_seconds)


def _tracked(connection: psycopg.Connection[TupleRow], schema: str, table: str, upstream: str) -> int | None:
    # Checked first rather than caught: an error would end the snapshot transaction the whole status reads in.
    exists = connection.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
    if not exists or exists[0] is None:
        return None
    row = connection.execute(SQL("SELECT notification_id FROM {0}.{1} WHERE application_name = %s").format(
        Identifier(schema), Identifier(table)), (upstream,)).fetchone()
    return int(row[0]) if row else None


def platform_status(database: Database) -> PlatformStatus:
    pairs = live_generations(database, ALL_MODELS.values())
    with database.connect() as connection:
        # One snapshot for every figure: heads read first and positions read later would otherwise disagree
        # (a follower "behind" at the head, or past it) whenever events arrive in between.
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        with connection.transaction():
            return _status_in(connection, pairs)


def _status_in(connection: psycopg.Connection[TupleRow],
               pairs: Sequence[tuple[ReadModel, int]]) -> PlatformStatus:
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

