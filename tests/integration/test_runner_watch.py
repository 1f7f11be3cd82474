"""A runner's subscription can miss its wake-up (an event committed while it starts listening, a lost NOTIFY);
the watch loop pulls every second anyway, so such an event waits a second, not until the next write."""

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from decimal import Decimal

from eventsourcing.projection import ProjectionRunner

from adapters.bootstrap import build_write_side, migrate, runner_env
from adapters.database import Database
from adapters.postgres_read_models import read_models_view
from adapters.runner_watch import watch
from adapters.settings import Settings
from commands.orders import Orders
from domain.values import DeliveryAddress, OrderLine
from projections.models.audit import AUDIT_EVENTS
from projections.projection import ReadModelsProjection


def audit_rows(database: Database) -> int:
    with database.connect() as connection:
        row = connection.execute("SELECT count(*) FROM read.audit_events").fetchone()
    return int(row[0]) if row else 0


def place_an_order(database: Database, settings: Settings) -> None:
    migrate(database)
    with ExitStack() as stack:
        write = build_write_side(database, settings, stack)
        product, _ = write.inventory.create_product("W", "W", Decimal("1"), 1)
        write.orders.place_order("watch", [OrderLine(product.id, 1, Decimal("1"))], "tok_ok",
                                 DeliveryAddress("x", 0.0, 0.0))


def store_an_order_event_without_notify(database: Database) -> None:
    """A second order's event, stored the way the library stores it but without its NOTIFY."""
    with database.connect() as connection:
        connection.execute(
            "INSERT INTO orders.orders_events (originator_id, originator_version, topic, state) "
            "SELECT gen_random_uuid(), 1, topic, state FROM orders.orders_events LIMIT 1")


def test_an_event_written_without_a_notify_is_still_projected(database: Database, settings: Settings) -> None:
    place_an_order(database, settings)
    stop = threading.Event()
    with ProjectionRunner(application_class=Orders, projection_class=ReadModelsProjection,
                          view_class=read_models_view([(AUDIT_EVENTS, 1)], publishing=False),
                          env=runner_env(database)) as runner:
        watcher = threading.Thread(target=watch, args=(runner, stop))
        watcher.start()
        try:
            _wait_for(lambda: audit_rows(database) == 1)
            store_an_order_event_without_notify(database)
            _wait_for(lambda: audit_rows(database) == 2)
        finally:
            stop.set()
            watcher.join()


def _wait_for(condition: Callable[[], bool], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "the event was never projected"
        time.sleep(0.1)


def test_the_batch_projector_projects_an_event_written_without_a_notify(database: Database,
                                                                         settings: Settings) -> None:
    from typing import cast

    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    from adapters.batch_projection import project_in_batches
    from adapters.postgres_read_models import PostgresReadModelsView

    place_an_order(database, settings)
    env = runner_env(database)
    factory = InfrastructureFactory.construct(Environment(ReadModelsProjection.name, env))
    orders = Orders(env=env)
    stop = threading.Event()
    view = cast(PostgresReadModelsView,
                factory.tracking_recorder(read_models_view([(AUDIT_EVENTS, 1)], publishing=False)))
    follower = threading.Thread(target=project_in_batches, args=(database, orders, view, stop))
    follower.start()
    try:
        _wait_for(lambda: audit_rows(database) == 1)
        store_an_order_event_without_notify(database)
        _wait_for(lambda: audit_rows(database) == 2)
    finally:
        stop.set()
        follower.join()
        orders.close()
        factory.close()
