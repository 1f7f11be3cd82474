"""Rebuilding read models: in place and blue-green give exactly what the live path gives, and publish nothing.

Histories are written through the contexts' applications (the benchmark's writer), projected by the live
path (one runner per context, as `logistics projector` runs them), and then rebuilt; tables are compared row
by row through the text of every row, so that any difference in a document, a column or a timestamp shows.
The history is written and projected once for the module; each test rebuilds in a copy of that database
(`CREATE DATABASE ... TEMPLATE`), and its writer carries on with the same histories.
"""

import copy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.projection import ProjectionRunner
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Identifier

from adapters import rebuild_replay
from adapters.database import CONTEXT_SCHEMAS, READ_SCHEMA, Database, drop_database
from adapters.followers import read_models_follower
from adapters.inprocess_broker import InProcessBroker
from adapters.platform_status import platform_status
from adapters.postgres_read_models import doc_table, read_models_view, tracking_table
from adapters.read_generations import REGISTRY, live_generations
from adapters.rebuild_blue_green import rebuild_blue_green
from adapters.rebuild_in_place import rebuild_in_place
from adapters.rebuild_replay import RebuildSources
from adapters.rebuild_runs import RebuildInProgress, rebuild_lock
from composition.contexts import CONTEXT_APPLICATIONS, runner_env
from composition.migration import migrate
from projections.models import ALL_MODELS
from projections.models.audit import AUDIT_EVENTS
from projections.models.orders import ORDERS
from projections.projection import ReadModelsProjection
from projections.read_model import ReadModel
from scripts.bench_rebuild import HistoryWriter, OrderHistories
from scripts.projector import projector_supervisor
from tests.conftest import fresh_database, make_settings
from tests.waiting import eventually

MODELS = list(ALL_MODELS.values())
SOURCES = RebuildSources(CONTEXT_APPLICATIONS, ALL_MODELS)
COPY_LIMIT_S = 30.0
Snapshot = dict[str, list[str]]


@dataclass(frozen=True)
class ProjectedHistory:
    database: Database
    """Never connected to while the module runs: it is the template each test's database is copied from."""
    histories: OrderHistories
    """The writer's histories as they were when it stopped writing, for each test's writer to carry on with."""


@pytest.fixture(scope="module")
def projected_history(pg_server: Database) -> Iterator[ProjectedHistory]:
    """Some orders' whole histories in every context, projected by the live path: written once for the module."""
    template = fresh_database(pg_server)
    try:
        migrate(template)
        writer = HistoryWriter(template, products=6, couriers=5, seed=11)
        try:
            writer.write(40, per_save=10)
        finally:
            writer.close()
        project_live(template)
        yield ProjectedHistory(template, writer.histories)
    finally:
        drop_database(pg_server, template.dbname)


@pytest.fixture
def database(pg_server: Database, projected_history: ProjectedHistory) -> Iterator[Database]:
    """A copy of the projected history's database for one test, dropped afterwards."""
    copied = copy_database(pg_server, projected_history.database)
    try:
        yield copied
    finally:
        drop_database(pg_server, copied.dbname)


@pytest.fixture
def history(database: Database, projected_history: ProjectedHistory) -> Iterator[HistoryWriter]:
    """A writer of more orders into the test's database, carrying on with the histories it holds."""
    writer = HistoryWriter(database, copy.deepcopy(projected_history.histories))
    try:
        yield writer
    finally:
        writer.close()


def copy_database(server: Database, template: Database) -> Database:
    """A new database copied from `template` by the server itself, which is far faster than writing it again."""
    copied = server.with_dbname(f"logistics_test_{uuid4().hex[:12]}")
    deadline = time.monotonic() + COPY_LIMIT_S
    with server.connect() as connection:
        while True:
            try:
                connection.execute(SQL("CREATE DATABASE {0} TEMPLATE {1}").format(
                    Identifier(copied.dbname), Identifier(template.dbname)))
                return copied
            except psycopg.errors.ObjectInUse:
                # The template's last sessions (its writer's, its projectors') end a moment after they close.
                assert time.monotonic() < deadline, f"{template.dbname} still in use after {COPY_LIMIT_S} s"
                time.sleep(0.1)


def project_live(database: Database) -> None:
    """Run the live path over each context's whole log, publishing, as the projector does."""
    env = runner_env(database)
    pairs = live_generations(database, MODELS)
    for upstream in CONTEXT_APPLICATIONS:
        view = read_models_view([pair for pair in pairs if upstream.name in pair[0].upstreams], publishing=True)
        with ProjectionRunner(application_class=upstream, projection_class=ReadModelsProjection, view_class=view,
                              env=env) as runner:
            head = runner.app.recorder.max_notification_id()
            if head:
                runner.wait(head, timeout=120)


def heads(database: Database) -> dict[str, int]:
    found = {}
    with database.connect() as connection:
        for name, schema in CONTEXT_SCHEMAS.items():
            row = connection.execute(SQL("SELECT coalesce(max(notification_id), 0) FROM {0}.{1}").format(
                Identifier(schema), Identifier(f"{name.lower()}_events"))).fetchone()
            assert row is not None
            found[name] = int(row[0])
    return found


def snapshot(database: Database, model: ReadModel) -> Snapshot:
    """Every row of the model's reader views and of its live tracking, as text, in a fixed order."""
    views = []
    if model.documents is not None:
        views.append(model.name)
    if model.rows is not None:
        views.append(f"{model.name}_{model.rows.table}")
    with database.connect() as connection:
        (generation,) = [generation for _, generation in live_generations(database, [model])]
        result = {view: _rows(connection, view) for view in views}
        result["tracking"] = _rows(connection, tracking_table(model, generation))
    return result


def _rows(connection: psycopg.Connection[TupleRow], table: str) -> list[str]:
    return [row[0] for row in connection.execute(SQL("SELECT t::text FROM {0}.{1} AS t ORDER BY 1").format(
        Identifier(READ_SCHEMA), Identifier(table))).fetchall()]


def outbox_count(database: Database) -> int:
    with database.connect() as connection:
        row = connection.execute("SELECT count(*) FROM read.outbox").fetchone()
    assert row is not None
    return int(row[0])


def read_tables(database: Database, model: ReadModel) -> set[str]:
    with database.connect() as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                                  (READ_SCHEMA, f"{model.name}\\_g%")).fetchall()
    return {str(row[0]) for row in rows}


def registry(database: Database, model: ReadModel) -> tuple[int, int | None]:
    with database.connect() as connection:
        row = connection.execute(f"SELECT live, building FROM {REGISTRY} WHERE model = %s", (model.name,)).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def test_in_place_rebuilds_reproduce_the_live_projection_and_publish_nothing(
        history: HistoryWriter, database: Database) -> None:
    before = {model.name: snapshot(database, model) for model in MODELS}
    assert all(before[model.name]["tracking"] for model in MODELS)
    assert len(before["orders"]["orders"]) == 40
    messages = outbox_count(database)

    for model in MODELS:
        (result,) = rebuild_in_place(database, SOURCES, [model])
        assert result.events > 0
        assert snapshot(database, model) == before[model.name], model.name
    results = rebuild_in_place(database, SOURCES, MODELS)

    assert [result.model for result in results] == [model.name for model in MODELS]
    assert {model.name: snapshot(database, model) for model in MODELS} == before
    assert outbox_count(database) == messages


def test_blue_green_rebuilds_reproduce_the_live_projection_swap_and_drop_the_old_tables(
        history: HistoryWriter, database: Database) -> None:
    before = {model.name: snapshot(database, model) for model in MODELS}
    messages = outbox_count(database)

    for model in MODELS:
        result = rebuild_blue_green(database, SOURCES, model)

        assert result.ok, result.mismatches
        assert result.generation == 2
        assert set(result.phases) == {"replay", "catch-up", "verify", "swap"}
        assert registry(database, model) == (2, None)
        # Only the new generation's tables remain: the old one and the verification's scratch are gone.
        assert {table for table in read_tables(database, model) if "_g1" in table or "_g3" in table} == set()
        assert snapshot(database, model) == before[model.name], model.name
    assert outbox_count(database) == messages


def wait_caught_up(database: Database, timeout: float = 120.0) -> None:
    """Until every live generation has processed every upstream event (in each of its partitions)."""
    def behind() -> list[tuple[str, str]]:
        return [(follower.follower, follower.upstream) for follower in platform_status(database).followers
                if follower.follower.startswith("read model") and follower.lag_events]

    eventually(lambda: not behind(), timeout=timeout, interval=0.2, what="the live projector caught up",
               explain=lambda: f"behind: {behind()}")


def projected_so_far(database: Database) -> int:
    """How far the live read-model followers have come, added up: it grows while they project."""
    return sum(follower.position for follower in platform_status(database).followers
               if follower.follower.startswith("read model"))


def test_a_blue_green_rebuild_under_load_loses_and_repeats_no_message(
        history: HistoryWriter, database: Database, tmp_path: Path) -> None:
    """Orders keep coming and the live projector keeps projecting while models are rebuilt beside it."""
    broker = InProcessBroker()
    projector = projector_supervisor(database, broker, make_settings(database, tmp_path),
                                     only=[read_models_follower(upstream.name) for upstream in CONTEXT_APPLICATIONS])
    stop_writing = threading.Event()
    failures: list[BaseException] = []

    def keep_writing() -> None:
        try:
            # About 250 events/s: a steady stream the live projector keeps up with, though never quite at the head.
            while not stop_writing.is_set():
                history.write(1, per_save=1)
                time.sleep(0.1)
        except BaseException as error:
            failures.append(error)

    writer = threading.Thread(target=keep_writing, name="orders-writer")
    projector.start()
    writer.start()
    try:
        eventually(lambda: projected_so_far(database) > 0, timeout=60, what="the live projector under way")
        results = [rebuild_blue_green(database, SOURCES, ORDERS), rebuild_blue_green(database, SOURCES, AUDIT_EVENTS)]
        # In place too: the live projector waits on the locks, then resumes without a deadlock.
        rebuild_in_place(database, SOURCES, [ORDERS, AUDIT_EVENTS])
        rebuilt_at = projected_so_far(database)
        eventually(lambda: projected_so_far(database) > rebuilt_at, timeout=60,
                   what="the live projector going on after the in-place rebuild")
    finally:
        stop_writing.set()
        writer.join(timeout=30)
    try:
        assert not failures, failures
        assert all(result.ok for result in results), [result.mismatches for result in results]
        wait_caught_up(database)
    finally:
        projector.stop()
        broker.close()

    assert registry(database, ORDERS) == (2, None)
    assert registry(database, AUDIT_EVENTS) == (2, None)
    after = {model.name: snapshot(database, model) for model in (ORDERS, AUDIT_EVENTS)}
    rebuild_in_place(database, SOURCES, [ORDERS, AUDIT_EVENTS])
    assert {model.name: snapshot(database, model) for model in (ORDERS, AUDIT_EVENTS)} == after
    # Every stored event was published exactly once as a domain-event message: none was skipped because a
    # rebuilt model was ahead of the live projector, none repeated by a rebuild.
    with database.connect() as connection:
        row = connection.execute("SELECT count(*), count(DISTINCT message_id) FROM read.outbox "
                                 "WHERE routing_key NOT LIKE 'view.%'").fetchone()
    assert row is not None
    assert row[0] == row[1] == sum(heads(database).values()) == len(after["audit"]["audit_events"])


class InterruptAt:
    """A progress sink that presses Ctrl-C once a phase has folded some events."""

    def __init__(self, phase: str, after_events: int = 50) -> None:
        self.phase = phase
        self.after_events = after_events
        self.current = ""
        self.seen = 0

    def begin(self, model: str, phase: str, total: int) -> None:
        self.current, self.seen = phase, 0

    def advance(self, model: str, events: int) -> None:
        self.seen += events
        if self.current == self.phase and self.seen >= self.after_events:
            raise KeyboardInterrupt


@pytest.mark.parametrize("phase", ["replay", "verify"])
def test_an_interrupted_blue_green_rebuild_leaves_the_live_generation_untouched(
        history: HistoryWriter, database: Database, phase: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(database, ORDERS)
    tables = read_tables(database, ORDERS)
    # Small batches, so that the interruption comes midway through a log.
    monkeypatch.setattr(rebuild_replay, "BATCH_SIZE", 100)

    with pytest.raises(KeyboardInterrupt):
        rebuild_blue_green(database, SOURCES, ORDERS, InterruptAt(phase))

    assert registry(database, ORDERS) == (1, None)
    assert read_tables(database, ORDERS) == tables
    assert snapshot(database, ORDERS) == before
    # And nothing is left in the way of the next rebuild.
    assert rebuild_blue_green(database, SOURCES, ORDERS).ok


def test_an_interrupted_in_place_rebuild_rolls_back(history: HistoryWriter, database: Database,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    before = {model.name: snapshot(database, model) for model in MODELS}
    monkeypatch.setattr(rebuild_replay, "BATCH_SIZE", 100)

    with pytest.raises(KeyboardInterrupt):
        rebuild_in_place(database, SOURCES, MODELS, InterruptAt("in place"))

    assert {model.name: snapshot(database, model) for model in MODELS} == before


def test_events_projected_during_a_blue_green_build_are_caught_up_and_verified(
        history: HistoryWriter, database: Database) -> None:
    published: list[int] = []

    class MoreOrdersMeanwhile(InterruptAt):
        def begin(self, model: str, phase: str, total: int) -> None:
            # The build's target positions are taken: what the live projector adds now, it must catch up on.
            if phase == "replay":
                history.write(5, per_save=5)
                project_live(database)
                published.append(outbox_count(database))

    result = rebuild_blue_green(database, SOURCES, ORDERS, MoreOrdersMeanwhile("none"), catch_up_gap=0)

    assert result.ok, result.mismatches
    assert result.phases["catch-up"][0] == result.events - result.phases["replay"][0] > 0
    assert result.phases["verify"][0] == result.events
    after = snapshot(database, ORDERS)
    assert len(after["orders"]) == 45
    assert outbox_count(database) == published[0]
    rebuild_in_place(database, SOURCES, [ORDERS])
    assert snapshot(database, ORDERS) == after


def test_a_build_that_differs_from_a_full_replay_is_abandoned(history: HistoryWriter, database: Database) -> None:
    before = snapshot(database, ORDERS)

    class Corrupt(InterruptAt):
        def begin(self, model: str, phase: str, total: int) -> None:
            if phase == "verify":
                # As if the live path had written something a replay would not: the check must catch it.
                with database.connect() as connection:
                    connection.execute(SQL("UPDATE {0}.{1} SET doc = doc || '{{\"status\": \"LOST\"}}' "
                                           "WHERE id = (SELECT id FROM {0}.{1} ORDER BY id LIMIT 1)").format(
                        Identifier(READ_SCHEMA), Identifier(doc_table(ORDERS, 2))))

    result = rebuild_blue_green(database, SOURCES, ORDERS, Corrupt("none"))

    assert not result.ok
    assert [mismatch.table for mismatch in result.mismatches] == ["documents"]
    assert result.mismatches[0].built.rows == result.mismatches[0].replayed.rows
    assert any("LOST" in sample for sample in result.mismatches[0].samples)
    assert registry(database, ORDERS) == (1, None)
    assert snapshot(database, ORDERS) == before
    assert all("_g1" in table for table in read_tables(database, ORDERS))


def test_two_rebuilds_of_one_model_never_run_at_once(history: HistoryWriter, database: Database) -> None:
    with rebuild_lock(database, [ORDERS]):
        with pytest.raises(RebuildInProgress):
            rebuild_blue_green(database, SOURCES, ORDERS)
        with pytest.raises(RebuildInProgress):
            rebuild_in_place(database, SOURCES, [AUDIT_EVENTS, ORDERS])
    assert rebuild_in_place(database, SOURCES, [ORDERS])[0].events > 0
