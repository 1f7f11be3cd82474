"""Rebuilding read models from the event store, in place or blue-green, without publishing anything.

Both ways fold each context's whole log in memory (`projections.replay`) and write the result with COPY, which
is far faster than the live path's statement per event. Neither writes the outbox: what a rebuild replays was
published when it first happened.

A rebuild replays each upstream exactly up to the position the live generation has reached, never further.
The live projector follows every model of a context in one transaction per event and publishes as it goes
(domain-event messages come from the audit model); if a rebuilt model's tracking were ahead of the live
projector, the projector would skip those events for it and their messages would never be published.

- In place: one transaction locks the live generation's tables (the live projector waits: stop-the-world),
  truncates them, replays, copies, and commits with the tracking it found. Interrupted, it rolls back.
- Blue-green: replay into a fresh generation while the live one keeps serving and updating; catch up with the
  live path's own writer (no outbox); check the result against a second full replay at the same positions;
  then, holding the live generation's tracking table (its projector pauses for a moment), apply the last few
  events and swap in the same transaction, so that the new generation starts exactly where the old one
  stopped. Interrupted or different, the new generation is dropped and the live one is untouched.
"""

import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from psycopg.rows import TupleRow, dict_row
from psycopg.sql import SQL, Composed, Identifier

from adapters.database import READ_SCHEMA, Database
from adapters.followers import read_models_follower
from adapters.parked_events import ParkedEvents
from adapters.postgres_read_models import (
    _ModelWriter,
    _sql_value,
    doc_table,
    rows_table,
    storable_json,
    tracking_table,
)
from adapters.read_generations import (
    abandon,
    create_tables,
    drop_generation,
    live_generation,
    next_generation,
    swap_in,
)
from commands.base import ContextApplication
from composition.contexts import CONTEXT_APPLICATIONS
from projections.model import ReadModel
from projections.models import ALL_MODELS
from projections.partitions import partition_of, position_name, upstream_of
from projections.replay import ModelFold, NoProgress, Positions, Replay, ReplayProgress

BATCH_SIZE = 2000
"""Notifications per select: large enough that round trips cost little, small enough to stream."""
CATCH_UP_GAP = 100
"""Events a blue-green build may still be behind when it takes the live tracking lock to swap."""
CATCH_UP_ROUNDS = 20
# Session advisory locks (two-key form) keep two rebuilds of one model apart; the first key is ours.
REBUILD_LOCK_SPACE = 0x0EB1D


class RebuildInProgress(RuntimeError):
    pass


def _table(name: str) -> Composed:
    return SQL("{0}.{1}").format(Identifier(READ_SCHEMA), Identifier(name))


class EventLogs:
    """Each context's notification log, read in large batches and decoded by the context's own mapper.

    Events the read models' follower of a context never applied (parked and not yet retried, or skipped by an
    operator: `adapters.parked_events`) are left out, so a rebuild gives what the live path gave.
    """

    def __init__(self, database: Database, batch_size: int | None = None) -> None:
        self.batch_size = batch_size or BATCH_SIZE
        env = database.eventsourcing_env(pool_size=1, max_overflow=1)
        self.apps: dict[str, ContextApplication] = {}
        parked = ParkedEvents.of(database)
        self.left_out = {application_class.name: parked.skipped_notifications(
            read_models_follower(application_class.name)) for application_class in CONTEXT_APPLICATIONS}
        try:
            for application_class in CONTEXT_APPLICATIONS:
                self.apps[application_class.name] = application_class(env=env)
        except BaseException:
            self.close()
            raise

    @property
    def left_out_count(self) -> int:
        return sum(len(ids) for ids in self.left_out.values())

    def head(self, name: str) -> int:
        return self.apps[name].recorder.max_notification_id() or 0

    def read(self, name: str, after: int, stop: int) -> Iterator[list[tuple[int, Any]]]:
        """(position, event) in batches, for positions after `after` up to `stop` inclusive."""
        app = self.apps[name]
        position = after
        while position < stop:
            notifications = app.recorder.select_notifications(start=position, limit=self.batch_size, stop=stop,
                                                              inclusive_of_start=False)
            if not notifications:
                return
            to_event = app.mapper.to_domain_event
            left_out = self.left_out.get(name, set())
            yield [(notification.id, to_event(notification)) for notification in notifications
                   if notification.id not in left_out]
            position = notifications[-1].id

    def close(self) -> None:
        for app in self.apps.values():
            app.close()

    def __enter__(self) -> "EventLogs":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True)
class TableDigest:
    rows: int
    md5: str | None


@dataclass(frozen=True)
class Mismatch:
    table: str
    built: TableDigest
    replayed: TableDigest
    samples: list[str]
    """A few rows found on one side only, prefixed with the side."""


@dataclass
class RebuildResult:
    model: str
    mode: str
    generation: int
    events: int
    """Events of the model's upstreams folded or applied into the result."""
    seconds: float
    phases: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Per phase: events and seconds."""
    mismatches: list[Mismatch] = field(default_factory=list)
    read: int = 0
    """Events read from the logs for the main replay; one in-place pass shares them among its models."""
    left_out: int = 0
    """Parked or skipped events left out, as the live path left them out."""

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@contextmanager
def rebuild_lock(database: Database, models: Sequence[ReadModel]) -> Iterator[None]:
    """Only one rebuild of a model at a time: a second one would drop the first one's generation."""
    with database.connect() as connection:
        try:
            for model in models:
                row = connection.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                         (REBUILD_LOCK_SPACE, _lock_key(model))).fetchone()
                if not (row and row[0]):
                    raise RebuildInProgress(f"another rebuild of {model.name} is running")
            yield  # a session that dies takes its locks with it
        finally:
            # Given back before the connection closes: a closed session's backend lets go of its locks only
            # once it has exited, a moment after the client has moved on, and the next rebuild would find them.
            if not connection.closed and not connection.broken:
                connection.execute("SELECT pg_advisory_unlock_all()")


def _lock_key(model: ReadModel) -> int:
    return zlib.crc32(model.name.encode()) - 2**31


def tracking_positions(connection: psycopg.Connection[TupleRow], model: ReadModel, generation: int) -> Positions:
    rows = connection.execute(SQL("SELECT application_name, notification_id FROM {0}").format(
        _table(tracking_table(model, generation)))).fetchall()
    return {str(name): int(position) for name, position in rows if upstream_of(str(name)) in model.upstreams}


def replay(logs: EventLogs, folds: Sequence[ModelFold], progress: ReplayProgress, phase: str) -> int:
    """Fold each context's log into every fold that needs it, up to the furthest stop (one read per context).

    Returns the events read.
    """
    run = Replay(folds, progress)
    run.begin(phase)
    for name in logs.apps:
        stop = run.stop(name)
        if stop is None:
            continue
        for batch in logs.read(name, 0, stop):
            run.feed(name, batch)
    return run.read


def write_fold(connection: psycopg.Connection[TupleRow], fold: ModelFold, generation: int) -> None:
    """COPY a fold into a generation's empty tables and set its tracking; the caller holds the transaction."""
    model = fold.model
    with connection.cursor() as cursor:
        if model.documents is not None:
            names = ["id", "doc", "updated_at", *(column.name for column in model.documents.columns)]
            with cursor.copy(SQL("COPY {0} ({1}) FROM STDIN").format(
                    _table(doc_table(model, generation)), SQL(", ").join(map(Identifier, names)))) as copy:
                for key, doc, updated_at, values in fold.document_records():
                    copy.write_row((key, storable_json(doc), updated_at, *map(_sql_value, values)))
        if model.rows is not None:
            names = [name for name, _ in model.rows.columns]
            with cursor.copy(SQL("COPY {0} ({1}) FROM STDIN").format(
                    _table(rows_table(model, generation)), SQL(", ").join(map(Identifier, names)))) as copy:
                for row in fold.rows:
                    copy.write_row(tuple(map(_sql_value, row)))
        set_tracking(connection, model, generation, fold.tracking())


def set_tracking(connection: psycopg.Connection[TupleRow], model: ReadModel, generation: int,
                 positions: Positions) -> None:
    statement = SQL("INSERT INTO {0} (application_name, notification_id) VALUES (%s, %s) ON CONFLICT "
                    "(application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id").format(
        _table(tracking_table(model, generation)))
    with connection.cursor() as cursor:
        cursor.executemany(statement, sorted(positions.items()))


def _lock_statements(pairs: Sequence[tuple[ReadModel, int]]) -> list[Composed]:
    """Locks in the order the live projector takes its writing locks, so that no deadlock is possible: model by
    model, its documents, then its rows, then its tracking (a batch writes a model's position after its data)."""
    statements = []
    for model, generation in pairs:
        data = _data_tables(model, generation)
        if data:
            statements.append(SQL("LOCK TABLE {0} IN ACCESS EXCLUSIVE MODE").format(SQL(", ").join(data)))
        # Tracking stays readable (positions for `logistics status`); the projector's writes to it wait.
        statements.append(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(_table(tracking_table(model, generation))))
    return statements


def _data_tables(model: ReadModel, generation: int) -> list[Composed]:
    tables = []
    if model.documents is not None:
        tables.append(_table(doc_table(model, generation)))
    if model.rows is not None:
        tables.append(_table(rows_table(model, generation)))
    return tables


def _in_projector_order(models: Sequence[ReadModel]) -> list[ReadModel]:
    names = {model.name for model in models}
    unknown = names - set(ALL_MODELS)
    if unknown:
        raise ValueError(f"unknown read model(s) {', '.join(sorted(unknown))}")
    return [model for model in ALL_MODELS.values() if model.name in names]


def _keep_transaction_open(connection: psycopg.Connection[TupleRow]) -> None:
    # The transaction idles while the logs are read over other connections; a server-wide idle timeout
    # must not end it.
    connection.execute("SET LOCAL idle_in_transaction_session_timeout = 0")


def rebuild_in_place(database: Database, models: Sequence[ReadModel],
                     progress: ReplayProgress | None = None) -> list[RebuildResult]:
    """Truncate and replay the live generations of these models in one transaction; all or nothing."""
    progress = progress or NoProgress()
    ordered = _in_projector_order(models)
    started = time.perf_counter()
    with rebuild_lock(database, ordered), EventLogs(database) as logs, database.connect() as connection:
        with connection.transaction():
            _keep_transaction_open(connection)
            pairs = [(model, live_generation(connection, model)) for model in ordered]
            for statement in _lock_statements(pairs):
                connection.execute(statement)
            folds = [ModelFold(model, tracking_positions(connection, model, generation))
                     for model, generation in pairs]
            for model, generation in pairs:
                for table in _data_tables(model, generation):
                    connection.execute(SQL("TRUNCATE {0}").format(table))
                connection.execute(SQL("DELETE FROM {0}").format(_table(tracking_table(model, generation))))
            read = replay(logs, folds, progress, "in place")
            for fold, (_, generation) in zip(folds, pairs, strict=True):
                write_fold(connection, fold, generation)
        seconds = time.perf_counter() - started
    return [RebuildResult(fold.model.name, "in place", generation, fold.events, seconds,
                          {"in place": (fold.events, seconds)}, read=read, left_out=logs.left_out_count)
            for fold, (_, generation) in zip(folds, pairs, strict=True)]


def rebuild_blue_green(database: Database, model: ReadModel, progress: ReplayProgress | None = None,
                       *, catch_up_gap: int = CATCH_UP_GAP) -> RebuildResult:
    """Build a new generation beside the live one, check it, and swap it in; see the module's description."""
    progress = progress or NoProgress()
    started = time.perf_counter()
    with rebuild_lock(database, [model]), EventLogs(database) as logs, database.connect() as connection:
        generation = next_generation(database, model)
        build = _BlueGreenBuild(database, connection, logs, model, generation, progress)
        try:
            return build.run(started, catch_up_gap)
        except BaseException:
            # Ctrl-C included: whatever was built goes, the live generation was never touched.
            build.discard()
            raise


@dataclass
class _BlueGreenBuild:
    database: Database
    connection: psycopg.Connection[TupleRow]
    logs: EventLogs
    model: ReadModel
    generation: int
    progress: ReplayProgress
    scratch: int | None = None
    phases: dict[str, tuple[int, float]] = field(default_factory=dict)
    read: int = 0

    def run(self, started: float, catch_up_gap: int) -> RebuildResult:
        model, generation = self.model, self.generation
        live = live_generation(self.connection, model)
        with self._phase("replay") as done:
            fold = ModelFold(model, tracking_positions(self.connection, model, live))
            self.read = replay(self.logs, [fold], self.progress, "replay")
            with self.connection.transaction():
                write_fold(self.connection, fold, generation)
            done(fold.events)
            del fold
        with self._phase("catch-up") as done:
            done(self.catch_up(live, catch_up_gap))
        with self._phase("verify") as done:
            mismatches, events = self.verify()
            done(events)
        if mismatches:
            abandon(self.database, model, generation)
            return self._result(started, mismatches)
        with self._phase("swap") as done:
            applied = self.catch_up(live, catch_up_gap)
            with self.connection.transaction():
                # The live projector waits here for a moment; its next write would otherwise be lost with the
                # old tables, or, if it were behind us, its messages for the events in between would be.
                self.connection.execute(SQL("LOCK TABLE {0} IN ACCESS EXCLUSIVE MODE").format(
                    _table(tracking_table(model, live))))
                target = tracking_positions(self.connection, model, live)
                applied += self.apply_live_path(target)
                swap_in(self.connection, model, generation)
            done(applied)
        return self._result(started, [])

    def _result(self, started: float, mismatches: list[Mismatch]) -> RebuildResult:
        events = sum(events for phase, (events, _) in self.phases.items() if phase != "verify")
        return RebuildResult(self.model.name, "blue-green", self.generation, events,
                             time.perf_counter() - started, dict(self.phases), mismatches, self.read,
                             self.logs.left_out_count)

    @contextmanager
    def _phase(self, name: str) -> Iterator[Callable[[int], None]]:
        counted = [0]
        started = time.perf_counter()

        def done(events: int) -> None:
            counted[0] = events

        yield done
        self.phases[name] = (counted[0], time.perf_counter() - started)

    def catch_up(self, live: int, gap: int) -> int:
        """Follow the live generation with the live path's writer (no outbox) until within `gap` events."""
        applied = 0
        for _ in range(CATCH_UP_ROUNDS):
            target = tracking_positions(self.connection, self.model, live)
            current = tracking_positions(self.connection, self.model, self.generation)
            behind = sum(stop - current.get(name, 0) for name, stop in target.items())
            if behind <= gap:
                break
            self.progress.begin(self.model.name, "catch-up", behind)
            applied += self.apply_live_path(target)
        return applied

    def apply_live_path(self, target: Positions) -> int:
        """Apply each upstream's events after the build's tracking up to `target`, a transaction per batch;
        each partition from its own position to its own stop, under the row `target` names it by."""
        writer = _ModelWriter(self.model, self.generation)
        current = tracking_positions(self.connection, self.model, self.generation)
        applied = 0
        for upstream in self.logs.apps:
            stops = {name: position for name, position in target.items() if upstream_of(name) == upstream}
            if not stops:
                continue
            start = min((position for name, position in current.items() if upstream_of(name) == upstream), default=0)
            for batch in self.logs.read(upstream, start, max(stops.values())):
                with self.connection.transaction(), self.connection.cursor(row_factory=dict_row) as cursor:
                    for position, event in batch:
                        name = position_name(target, upstream, partition_of(event.originator_id))
                        if name is not None and current.get(name, 0) < position <= target[name]:
                            writer.apply(cursor, event, Tracking(name, position))
                            applied += 1
                self.progress.advance(self.model.name, len(batch))
        return applied

    def verify(self) -> tuple[list[Mismatch], int]:
        """Compare the build with a full replay up to the very positions it stands at; the build keeps still."""
        model, connection = self.model, self.connection
        at = tracking_positions(connection, model, self.generation)
        self.scratch = self.generation + 1
        with connection.transaction():
            drop_generation(connection, model, self.scratch)
            create_tables(connection, model, self.scratch)
        fold = ModelFold(model, at)
        replay(self.logs, [fold], self.progress, "verify")
        with connection.transaction():
            write_fold(connection, fold, self.scratch)
        mismatches = compare(connection, model, self.generation, self.scratch)
        with connection.transaction():
            drop_generation(connection, model, self.scratch)
        self.scratch = None
        return mismatches, fold.events

    def discard(self) -> None:
        with self.database.connect() as connection, connection.transaction():
            if self.scratch is not None:
                drop_generation(connection, self.model, self.scratch)
        abandon(self.database, self.model, self.generation)


def _tables(model: ReadModel, generation: int) -> list[tuple[str, str, SQL | Composed]]:
    """(role, table, ordering) of each of a generation's tables."""
    tables: list[tuple[str, str, SQL | Composed]] = [
        ("tracking", tracking_table(model, generation), SQL("application_name"))]
    if model.documents is not None:
        tables.append(("documents", doc_table(model, generation), SQL("id")))
    if model.rows is not None:
        unique = SQL("").join(SQL("{0}, ").format(Identifier(name)) for name in model.rows.unique)
        # Unique columns may hold NULLs; the whole row's text settles any tie.
        tables.append(("rows", rows_table(model, generation), SQL("{0}md5(t::text)").format(unique)))
    return tables


def table_digests(connection: psycopg.Connection[TupleRow], model: ReadModel,
                  generation: int) -> dict[str, TableDigest]:
    """Row count and an ordered checksum of every row's text, per table (an md5 per row keeps it small)."""
    digests = {}
    for role, table, order in _tables(model, generation):
        row = connection.execute(SQL(
            "SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY {0})) FROM {1} AS t"
        ).format(order, _table(table))).fetchone()
        assert row is not None
        digests[role] = TableDigest(int(row[0]), row[1])
    return digests


def compare(connection: psycopg.Connection[TupleRow], model: ReadModel, built: int,
            replayed: int) -> list[Mismatch]:
    ours, theirs = table_digests(connection, model, built), table_digests(connection, model, replayed)
    mismatches = []
    for (role, built_table, _), (_, replayed_table, _) in zip(_tables(model, built), _tables(model, replayed),
                                                              strict=True):
        if ours[role] != theirs[role]:
            mismatches.append(Mismatch(role, ours[role], theirs[role],
                                       _samples(connection, built_table, replayed_table)))
    return mismatches


def _samples(connection: psycopg.Connection[TupleRow], built: str, replayed: str, limit: int = 6) -> list[str]:
    rows = connection.execute(SQL(
        "(SELECT 'built: ' || t::text FROM (SELECT * FROM {0} EXCEPT ALL SELECT * FROM {1}) AS t LIMIT %s) "
        "UNION ALL (SELECT 'replayed: ' || t::text FROM (SELECT * FROM {1} EXCEPT ALL SELECT * FROM {0}) AS t "
        "LIMIT %s)"
    ).format(_table(built), _table(replayed)), (limit // 2, limit // 2)).fetchall()
    return [str(row[0]) for row in rows]
