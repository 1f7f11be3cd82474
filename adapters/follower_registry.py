"""The register of the platform's followers that track a context's log in a table of their own (the saga's
steps, the payment deadlines): written by the migration, read by the status query, so that a process that
serves only reads knows every follower without loading the write side that defines them."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import psycopg
from psycopg.rows import TupleRow

from adapters.database import READ_SCHEMA, Database

FOLLOWERS: Final = f"{READ_SCHEMA}.followers"


@dataclass(frozen=True)
class TrackedFollower:
    """A follower whose position is its own tracking table's rows for `upstream`."""

    label: str
    """As operators read it: `saga: Inventory`, `payment deadlines`."""
    name: str
    """Its lease's and runner's name: `orders-to-inventory`."""
    upstream: str
    tracking_schema: str
    tracking_table: str
    topics: tuple[str, ...] = ()
    """The upstream's topics it processes (none: all of them)."""


def record_followers(database: Database, followers: Sequence[TrackedFollower]) -> None:
    """Replace the register with `followers`; idempotent (run by the migration)."""
    with database.connect() as connection, connection.transaction():
        connection.execute(f"""
            CREATE TABLE IF NOT EXISTS {FOLLOWERS} (
                name text PRIMARY KEY, label text NOT NULL, upstream text NOT NULL,
                tracking_schema text NOT NULL, tracking_table text NOT NULL, topics text[] NOT NULL,
                place int NOT NULL)""")
        # Locked first: two processes migrating at once must not interleave their deletes and inserts.
        connection.execute(f"LOCK TABLE {FOLLOWERS} IN SHARE ROW EXCLUSIVE MODE")
        connection.execute(f"DELETE FROM {FOLLOWERS} WHERE NOT name = ANY(%s)", ([f.name for f in followers],))
        for place, follower in enumerate(followers):
            connection.execute(
                f"INSERT INTO {FOLLOWERS} VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                "label = excluded.label, upstream = excluded.upstream, tracking_schema = excluded.tracking_schema, "
                "tracking_table = excluded.tracking_table, topics = excluded.topics, place = excluded.place",
                (follower.name, follower.label, follower.upstream, follower.tracking_schema,
                 follower.tracking_table, list(follower.topics), place))


def registered_followers(connection: psycopg.Connection[TupleRow]) -> list[TrackedFollower]:
    """In the caller's transaction; none before the first migration."""
    exists = connection.execute("SELECT to_regclass(%s)", (FOLLOWERS,)).fetchone()
    if not exists or exists[0] is None:
        return []
    return [TrackedFollower(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), tuple(row[5]))
            for row in connection.execute(
                f"SELECT label, name, upstream, tracking_schema, tracking_table, topics FROM {FOLLOWERS} "
                "ORDER BY place")]
