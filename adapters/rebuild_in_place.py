"""Rebuilding read models in place: truncate the live generations and replay into them, all or nothing.

One transaction locks the live generation's tables (the live projector waits: stop-the-world), truncates them,
replays (`adapters.rebuild_replay`), copies, and commits with the tracking it found. Interrupted, it rolls back.
"""

import time
from collections.abc import Sequence

import psycopg
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Composed

from adapters.database import Database
from adapters.postgres_read_models import tracking_table
from adapters.read_generations import live_generation
from adapters.rebuild_replay import EventLogs, RebuildSources, replay
from adapters.rebuild_runs import RebuildResult, rebuild_lock
from adapters.rebuild_tables import data_tables, read_table, tracking_positions, write_fold
from projections.read_model import ReadModel
from projections.replay import ModelFold, NoProgress, ReplayProgress


def _lock_statements(pairs: Sequence[tuple[ReadModel, int]]) -> list[Composed]:
    """Locks in the order the live projector takes its writing locks, so that no deadlock is possible: model by
    model, its documents, then its rows, then its tracking (a batch writes a model's position after its data)."""
    statements = []
    for model, generation in pairs:
        data = data_tables(model, generation)
        if data:
            statements.append(SQL("LOCK TABLE {0} IN ACCESS EXCLUSIVE MODE").format(SQL(", ").join(data)))
        # Tracking stays readable (positions for `logistics status`); the projector's writes to it wait.
        statements.append(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(read_table(tracking_table(model, generation))))
    return statements


def _keep_transaction_open(connection: psycopg.Connection[TupleRow]) -> None:
    # The transaction idles while the logs are read over other connections; a server-wide idle timeout
    # must not end it.
    connection.execute("SET LOCAL idle_in_transaction_session_timeout = 0")


def rebuild_in_place(database: Database, sources: RebuildSources, models: Sequence[ReadModel],
                     progress: ReplayProgress | None = None) -> list[RebuildResult]:
    """Truncate and replay the live generations of these models in one transaction; all or nothing."""
    progress = progress or NoProgress()
    ordered = sources.in_projector_order(models)
    started = time.perf_counter()
    with rebuild_lock(database, ordered), EventLogs(database, sources.contexts) as logs, \
            database.connect() as connection:
        with connection.transaction():
            _keep_transaction_open(connection)
            pairs = [(model, live_generation(connection, model)) for model in ordered]
            for statement in _lock_statements(pairs):
                connection.execute(statement)
            folds = [ModelFold(model, tracking_positions(connection, model, generation))
                     for model, generation in pairs]
            for model, generation in pairs:
                for table in data_tables(model, generation):
                    connection.execute(SQL("TRUNCATE {0}").format(table))
                connection.execute(SQL("DELETE FROM {0}").format(read_table(tracking_table(model, generation))))
            read = replay(logs, folds, progress, "in place")
            for fold, (_, generation) in zip(folds, pairs, strict=True):
                write_fold(connection, fold, generation)
        seconds = time.perf_counter() - started
    return [RebuildResult(fold.model.name, "in place", generation, fold.events, seconds,
                          {"in place": (fold.events, seconds)}, read=read, left_out=logs.left_out_count)
            for fold, (_, generation) in zip(folds, pairs, strict=True)]
