"""Every table of the platform, created or brought up to date: the only place that runs DDL."""

import logging
import random
import time
from collections.abc import Mapping
from typing import Final

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.courier_positions import create_tracking_tables
from adapters.database import Database, create_schemas, migration_lock
from adapters.dispatch_index import fill_dispatch_index
from adapters.follower_leases import ensure_partitions
from adapters.follower_registry import record_followers
from adapters.parked_events import create_parked_tables
from adapters.postgres_deadlines import PostgresPaymentDeadlinesView
from adapters.read_generations import create_registry
from commands.deadlines import PaymentDeadlines
from commands.shipping import Shipping
from composition.contexts import CONTEXT_APPLICATIONS, PROJECTION_SCHEMAS, SAGA_STEPS
from composition.followers import follower_partitions, tracked_followers
from projections.models import ALL_MODELS

log = logging.getLogger(__name__)

MIGRATE_ATTEMPTS: Final = 8


def migrate(database: Database) -> None:
    """Create schemas and every table; idempotent and safe to run concurrently.

    A process starting beside running ones migrates under their writes: `CREATE INDEX IF NOT EXISTS` takes a
    share lock on its table even when the index exists, several tables per transaction, while a writer holds one
    of them and waits for another (the events table's exclusive lock). PostgreSQL then ends one of the two; when
    it is the migration, it is tried again, so that a restarted process comes up instead of exiting.
    """
    for attempt in range(1, MIGRATE_ATTEMPTS + 1):
        try:
            _migrate(database)
            return
        except Exception as error:
            if attempt == MIGRATE_ATTEMPTS or not _deadlocked(error):
                raise
            log.warning("migration deadlocked with running writers (attempt %d of %d); trying again",
                        attempt, MIGRATE_ATTEMPTS)
            time.sleep(random.uniform(0.1, 0.5) * attempt)


def _deadlocked(error: BaseException | None) -> bool:
    # The library wraps psycopg's error in its own OperationalError; the cause says what happened.
    while error is not None:
        if isinstance(error, psycopg.errors.DeadlockDetected):
            return True
        error = error.__cause__
    return False


def _migrate(database: Database) -> None:
    create_schemas(database)
    env = database.eventsourcing_env(pool_size=1, max_overflow=0, create_table=True)
    with database.connect() as connection, migration_lock(connection):
        # The saga steps' process recorders add each context's tracking table beside its events table.
        for application_class in (*CONTEXT_APPLICATIONS, *SAGA_STEPS):
            application_class(env=env).close()
        # A store written before the dispatch index existed gets its rows from its shipping log, once.
        read = _fill_dispatch_index(env, rebuild=False)
        if read:
            log.info("dispatch index filled from the %d events of the shipping log", read)
        deadlines = InfrastructureFactory.construct(Environment(PaymentDeadlines.name, {**env, **PROJECTION_SCHEMAS}))
        deadlines.tracking_recorder(PostgresPaymentDeadlinesView)
        deadlines.close()
    create_registry(database, ALL_MODELS.values())
    ensure_partitions(database, follower_partitions())
    record_followers(database, tracked_followers())
    create_parked_tables(database)
    create_tracking_tables(database)


def rebuild_dispatch_index(database: Database) -> int:
    """Refill the dispatch index from the shipping log (shipping writes wait meanwhile); the events read."""
    return _fill_dispatch_index(database.eventsourcing_env(pool_size=1, max_overflow=0), rebuild=True) or 0


def _fill_dispatch_index(env: Mapping[str, str], *, rebuild: bool) -> int | None:
    shipping = Shipping(env=env)
    try:
        return fill_dispatch_index(shipping.recorder, shipping.mapper.to_domain_event, rebuild=rebuild)
    finally:
        shipping.close()
