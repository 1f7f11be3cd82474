"""A process that starts beside running ones migrates under their writes, and must come up even when PostgreSQL
ends its migration to break a deadlock with one of them (found by `logistics chaos`: a restarted projector exited)."""

import contextlib
import threading

import psycopg

from adapters.database import Database
from composition.migration import migrate
from tests.waiting import eventually

WAITING_FOR_THE_INDEX_TABLE = (
    "SELECT count(*) FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation "
    "WHERE NOT l.granted AND c.relname = 'dispatch_couriers'")


def test_a_migration_that_deadlocks_with_a_writer_is_tried_again(database: Database) -> None:
    migrate(database)
    failures: list[BaseException] = []

    def migrate_again() -> None:
        try:
            migrate(database)
        except BaseException as error:
            failures.append(error)

    with database.connect() as writer, database.connect() as observer:
        with writer.transaction():
            # As a shipping write does: a dispatch index table in use, then the events table's exclusive lock.
            writer.execute("LOCK TABLE shipping.dispatch_couriers IN ROW EXCLUSIVE MODE")
            migration = threading.Thread(target=migrate_again)
            migration.start()

            def migration_waiting() -> bool:
                row = observer.execute(WAITING_FOR_THE_INDEX_TABLE).fetchone()
                if row is None or row[0] != 0:
                    return True
                assert migration.is_alive(), failures
                return False

            eventually(migration_waiting, timeout=60, what="the migration waiting for the dispatch index table")
            # The migration holds the events table's share lock (its index) and waits for ours: a cycle.
            # If PostgreSQL chooses the writer instead, the migration simply goes on.
            with contextlib.suppress(psycopg.errors.DeadlockDetected):
                writer.execute("LOCK TABLE shipping.shipping_events IN EXCLUSIVE MODE")
        migration.join(timeout=120)

    assert not migration.is_alive()
    assert failures == []
