"""The read models' PostgreSQL view: the library's own tracking-recorder contract, and exactly-once projection."""

from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from typing import Any, cast

import pytest
from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.projection import ProjectionRunner
from eventsourcing.tests import persistence as contract
from eventsourcing.utils import Environment

from adapters.database import Database, drop_database
from adapters.postgres_read_models import PostgresReadModelsView, read_models_view
from adapters.settings import Settings
from commands.orders import Orders
from composition.contexts import runner_env
from composition.migration import migrate
from composition.write_side import WriteSide, build_write_side
from domain.values import DeliveryAddress, OrderLine
from projections.models.audit import AUDIT_EVENTS
from projections.models.orders import ORDERS
from projections.projection import ReadModelsProjection
from tests.conftest import TEST_SERVER_URL, fresh_database

PAIRS = ((ORDERS, 1), (AUDIT_EVENTS, 1))


class TestReadModelsViewHonoursTheTrackingContract(contract.TrackingRecorderTestCase):
    def setUp(self) -> None:
        self.server = Database.from_url(TEST_SERVER_URL)
        self.database = fresh_database(self.server)
        migrate(self.database)
        env = Environment(ReadModelsProjection.name, runner_env(self.database))
        self.factory = InfrastructureFactory.construct(env)

    def tearDown(self) -> None:
        self.factory.close()
        drop_database(self.server, self.database.dbname)

    def create_recorder(self) -> PostgresReadModelsView:
        recorder = self.factory.tracking_recorder(read_models_view(PAIRS, publishing=True))
        return cast(PostgresReadModelsView, recorder)


@pytest.fixture
def write(database: Database, settings: Settings) -> Iterator[WriteSide]:
    migrate(database)
    with ExitStack() as stack:
        yield build_write_side(database, settings, stack)


def place_order(write: WriteSide) -> Any:
    stock, _ = write.inventory.create_product("VIEW-1", "View", Decimal("3.00"), 10)
    order, _ = write.orders.place_order("alice", [OrderLine(stock.id, 2, stock.price)], "tok_secret",
                                               DeliveryAddress("Jl. Test", -6.2, 106.8))
    order.record_stock_reserved()
    order.record_payment_authorized()
    recordings = write.orders.save(order)
    return order, recordings[-1].notification.id


def test_a_runner_projects_orders_and_the_audit_log_once(write: WriteSide, database: Database) -> None:
    order, position = place_order(write)
    env = runner_env(database)
    with ProjectionRunner(application_class=Orders, projection_class=ReadModelsProjection,
                          view_class=read_models_view(PAIRS, publishing=True), env=env) as runner:
        runner.wait(position, timeout=30)
    with database.connect() as connection:
        doc = connection.execute("SELECT doc FROM read.orders WHERE id = %s", (order.id,)).fetchone()
        audit = connection.execute("SELECT event_type, data FROM read.audit_events ORDER BY occurred_at, version "
                                   ).fetchall()
        outbox = connection.execute("SELECT routing_key, body FROM read.outbox ORDER BY id").fetchall()
    assert doc is not None
    assert doc[0]["status"] == "CONFIRMED"
    assert doc[0]["total"] == "6.00"
    assert [entry["status"] for entry in doc[0]["timeline"] if "status" in entry] == ["PENDING", "CONFIRMED"]
    assert [row[0] for row in audit] == ["Order.Placed", "Order.StockReserved", "Order.PaymentAuthorized",
                                         "Order.Confirmed"]
    assert audit[0][1]["payment_token"] == "***"
    routing = [row[0] for row in outbox]
    assert routing.count("order.created") == 1
    assert routing.count("order.confirmed") == 1
    assert routing.count("view.order.updated") == 4
    assert "tok_secret" not in str([row[1] for row in outbox])


def test_an_event_seen_before_changes_nothing(write: WriteSide, database: Database) -> None:
    order, _ = place_order(write)
    factory = InfrastructureFactory.construct(Environment(ReadModelsProjection.name, runner_env(database)))
    try:
        view = cast(PostgresReadModelsView, factory.tracking_recorder(read_models_view(PAIRS, publishing=True)))
        placed = next(iter(write.orders.events.get(order.id)))
        view.project(placed, Tracking("Orders", 1))
        view.project(placed, Tracking("Orders", 1))  # redelivered: applied once
        with database.connect() as connection:
            counts = connection.execute(
                "SELECT (SELECT count(*) FROM read.audit_events), (SELECT count(*) FROM read.outbox)").fetchone()
        assert counts == (1, 2)  # one audit row; one domain-event and one view message
        assert view.max_tracking_id("Orders") == 1
    finally:
        factory.close()
