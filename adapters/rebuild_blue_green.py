"""Rebuilding a read model blue-green: build a new generation beside the live one, check it, and swap it in.

Replay into a fresh generation (`adapters.rebuild_replay`) while the live one keeps serving and updating;
catch up with the live path's own writer (no outbox); check the result against a second full replay at the same
positions (`adapters.rebuild_compare`); then, holding the live generation's tracking table (its projector pauses
for a moment), apply the last few events and swap in the same transaction, so that the new generation starts
exactly where the old one stopped. Interrupted or different, the new generation is dropped and the live one is
untouched.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from eventsourcing.persistence import Tracking
from psycopg.rows import TupleRow, dict_row
from psycopg.sql import SQL

from adapters.database import Database
from adapters.postgres_read_models import _ModelWriter, tracking_table
from adapters.read_generations import (
    abandon,
    create_tables,
    drop_generation,
    live_generation,
    next_generation,
    swap_in,
)
from adapters.rebuild_compare import Mismatch, compare
from adapters.rebuild_replay import EventLogs, RebuildSources, replay
from adapters.rebuild_runs import RebuildResult, rebuild_lock
from adapters.rebuild_tables import read_table, tracking_positions, write_fold
from projections.partitions import partition_of, position_name, upstream_of
from projections.read_model import ReadModel
from projections.replay import ModelFold, NoProgress, Positions, ReplayProgress

CATCH_UP_GAP = 100
"""Events a blue-green build may still be behind when it takes the live tracking lock to swap."""
CATCH_UP_ROUNDS = 20


def rebuild_blue_green(database: Database, sources: RebuildSources, model: ReadModel,
                       progress: ReplayProgress | None = None, *, catch_up_gap: int = CATCH_UP_GAP) -> RebuildResult:
    """Build a new generation beside the live one, check it, and swap it in; see the module's description."""
    progress = progress or NoProgress()
    started = time.perf_counter()
    with rebuild_lock(database, [model]), EventLogs(database, sources.contexts) as logs, \
            database.connect() as connection:
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
                    read_table(tracking_table(model, live))))
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
