"""PostgreSQL: where each context's event store lives, and the explicit, idempotent schema setup."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Final

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from adapters.event_codec import MAPPER_TOPIC, TAGGED_WRITING_MAPPER_TOPIC

CONTEXT_SCHEMAS: Final[Mapping[str, str]] = {
    "Orders": "orders",
    "Inventory": "inventory",
    "Payments": "payments",
    "Shipping": "shipping",
}
READ_SCHEMA: Final = "read"

POOL_RECONNECT_TIMEOUT_S: Final = 8.0
"""How long one of our pools keeps trying to replace a lost connection before it gives that attempt up.
psycopg_pool doubles the delay between tries for as long as this lasts (1, 2, 4 s, ...): with its default of
five minutes a pool whose server was down for a minute waits a minute more after it is back. Given up, the
next request that needs a connection starts a fresh attempt, so a pool is back within a second or two."""

# Serialises schema changes across processes starting at the same time (any constant works; it is ours).
MIGRATION_LOCK_KEY: Final = 0x10C157C5


@dataclass(frozen=True)
class Database:
    """Where PostgreSQL is, as both a URL (for our own connections) and eventsourcing's settings."""

    url: str
    host: str
    port: int
    dbname: str
    user: str
    password: str
    typed_events: bool = True
    """How the applications write new events (either format is read): see `Settings.typed_events`."""

    @classmethod
    def from_url(cls, url: str) -> "Database":
        params = conninfo_to_dict(url)
        return cls(
            url=url,
            host=str(params.get("host") or "127.0.0.1"),
            port=int(params.get("port") or 5432),
            dbname=str(params.get("dbname") or "postgres"),
            user=str(params.get("user") or "postgres"),
            password=str(params.get("password") or ""),
        )

    def with_dbname(self, dbname: str) -> "Database":
        conninfo = make_conninfo(self.url, dbname=dbname)
        return replace(self, url=conninfo, dbname=dbname)

    def connect(self, *, read_only: bool = False) -> psycopg.Connection[TupleRow]:
        # A read-only session refuses every write, whatever code path tries one.
        options = "-c default_transaction_read_only=on" if read_only else ""
        return psycopg.connect(self.url, autocommit=True, options=options, connect_timeout=5)

    def eventsourcing_env(self, *, pool_size: int, max_overflow: int, create_table: bool = False,
                          checkout_timeout_s: int = 10) -> dict[str, str]:
        """Environment for the four contexts' applications: one database, one schema per context.

        No pre-ping: a checkout costs no round trip. A pooled connection that died (a database restart) fails
        its statement, the pool drops it, and the library retries the statement on another connection.
        `checkout_timeout_s` bounds each wait for a connection (the library tries ten times before giving up).
        Events are read in either stored format and written as typed JSON, or as the library's tagged JSON
        while `typed_events` is off (`adapters.event_codec`).
        """
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": str(max_overflow),
            "POSTGRES_CONNECT_TIMEOUT": str(checkout_timeout_s),
            # Saga steps record a batch's several partition trackings and lease fence with its events.
            "PROCESS_RECORDER_TOPIC": "adapters.fenced_recorder:FencedProcessRecorder",
            # Shipping's recorders also keep the dispatch index in its events' transactions.
            "SHIPPING_APPLICATION_RECORDER_TOPIC": "adapters.dispatch_index:DispatchIndexRecorder",
            "SHIPPING_PROCESS_RECORDER_TOPIC": "adapters.dispatch_index:DispatchIndexProcessRecorder",
            "CREATE_TABLE": "y" if create_table else "n",
            "MAPPER_TOPIC": MAPPER_TOPIC if self.typed_events else TAGGED_WRITING_MAPPER_TOPIC,
        }
        for app_name, schema in CONTEXT_SCHEMAS.items():
            env[f"{app_name.upper()}_POSTGRES_SCHEMA"] = schema
        return env


READ_TABLES: Final = (
    f"""
    CREATE TABLE IF NOT EXISTS {READ_SCHEMA}.idempotency_keys (
        scope text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        status_code integer,
        body bytea,
        headers jsonb,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        PRIMARY KEY (scope, key)
    )
    """,
    # Messages for RabbitMQ, written in the projectors' transactions and published by the relay. Rows are
    # numbered in commit order (writers serialise on OUTBOX_LOCK_KEY), so publishing by id keeps every
    # aggregate's messages in order, and sent rows stay for a while so that push clients can resume.
    f"""
    CREATE TABLE IF NOT EXISTS {READ_SCHEMA}.outbox (
        id bigserial PRIMARY KEY,
        message_id text NOT NULL UNIQUE,
        routing_key text NOT NULL,
        aggregate_id uuid NOT NULL,
        body jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
    )
    """,
    f"CREATE INDEX IF NOT EXISTS outbox_unpublished_idx ON {READ_SCHEMA}.outbox (id) WHERE published_at IS NULL",
    f"CREATE INDEX IF NOT EXISTS outbox_aggregate_idx ON {READ_SCHEMA}.outbox (aggregate_id, id)",
    f"CREATE INDEX IF NOT EXISTS outbox_published_at_idx ON {READ_SCHEMA}.outbox (published_at)",
)
OUTBOX_LOCK_KEY: Final = 0x0B7B0C5


@contextmanager
def migration_lock(connection: psycopg.Connection[TupleRow]) -> Iterator[None]:
    connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        yield
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def create_schemas(database: Database) -> None:
    """Create every schema and our own tables if missing. Safe to run any number of times, concurrently."""
    with database.connect() as connection, migration_lock(connection):
        for schema in (*CONTEXT_SCHEMAS.values(), READ_SCHEMA):
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for statement in READ_TABLES:
            connection.execute(statement)


def create_database(server: Database, dbname: str) -> Database:
    """Create a database on the server if it is missing (used for the embedded server and for test runs)."""
    with server.connect() as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{dbname}"')
    return server.with_dbname(dbname)


def drop_database(server: Database, dbname: str) -> None:
    with server.connect() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
