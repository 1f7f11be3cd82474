"""Both stored-event formats in one real PostgreSQL store: what was written before the typed codec (the library's
tagged JSON) and what is written now, interleaved, read back by the applications, the audit page and the status.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from psycopg.sql import SQL, Identifier

from adapters.database import READ_SCHEMA, Database
from adapters.event_codec import MARKER
from adapters.event_store_reader import EventStoreQueries, aggregate_state
from adapters.platform_status import platform_status
from adapters.postgres_read_models import tracking_table
from adapters.read_database import read_only_pool
from adapters.read_generations import live_generations
from commands.inventory import Inventory
from commands.orders import Orders
from commands.shipping import Shipping
from composition.migration import migrate
from domain.base import message_context
from domain.shipping import Courier, Shipment
from domain.stock import Stock
from domain.values import DeliveryAddress, GeoPoint, OrderLine
from projections.models import ALL_MODELS


@pytest.fixture
def envs(database: Database) -> dict[str, dict[str, str]]:
    """`typed`: today's env. `tagged`: the same without our mapper, as every deployment wrote until now."""
    migrate(database)
    env = database.eventsourcing_env(pool_size=1, max_overflow=1)
    return {"typed": env, "tagged": {**env, "MAPPER_TOPIC": ""}}


@pytest.fixture
def inventories(envs: dict[str, dict[str, str]]) -> Iterator[dict[str, Inventory]]:
    with ExitStack() as stack:
        apps = {}
        for kind, env in envs.items():
            apps[kind] = Inventory(env=env)
            stack.callback(apps[kind].close)
        yield apps


def stored_states(database: Database, schema: str, table: str, aggregate_id: UUID) -> list[bytes]:
    with database.connect() as connection:
        rows = connection.execute(SQL("SELECT state FROM {0}.{1} WHERE originator_id = %s "
                                      "ORDER BY originator_version").format(Identifier(schema), Identifier(table)),
                                  (aggregate_id,)).fetchall()
    return [bytes(row[0]) for row in rows]


def test_a_store_written_in_both_formats_reads_back_whole(database: Database,
                                                          inventories: dict[str, Inventory]) -> None:
    first, second = uuid4(), uuid4()
    stock = Stock.create("MIX-1", "Mixed", "4.20", 10)
    written: list[Any] = []

    def save(kind: str) -> None:
        written.extend(stock.pending_events)
        inventories[kind].save(stock)

    save("tagged")  # the product was created before the upgrade...
    with message_context(str(first), "request:1"):
        stock.reserve(first, 2)
    save("typed")  # ...and the upgraded writers go on
    stock.restock(5, "delivery")
    save("tagged")  # a writer not yet upgraded, during a rolling upgrade
    stock.release(first)
    stock.reserve(second, 3)
    save("typed")
    stock.commit(second)
    save("typed")

    states = stored_states(database, "inventory", "inventory_events", stock.id)
    assert [state.startswith(MARKER) for state in states] == [False, True, False, True, True, True]

    app = inventories["typed"]
    restored = app.get_stock(stock.id)
    assert vars(restored) == vars(stock)
    assert restored.on_hand == 12
    assert restored.reservations == {}
    notifications = app.recorder.select_notifications(start=1, limit=100)
    assert [app.mapper.to_domain_event(notification) for notification in notifications] == written
    for version in range(1, stock.version + 1):
        then: Aggregate = app.repository.get(stock.id, version=version)
        assert then.version == version

    pool = read_only_pool(database, max_size=2)
    try:
        audit = EventStoreQueries(pool)
        for version in range(1, stock.version + 1):
            found = audit.aggregate_at(stock.id, version)
            assert found is not None
            assert found.state == aggregate_state(app.repository.get(stock.id, version=version))
            assert found.event.version == version
        second_reservation = audit.aggregate_at(stock.id, 2)
        assert second_reservation is not None
        assert second_reservation.event.correlation_id == str(first)
        assert second_reservation.changed["_reserved_by_order"].after == {str(first): 2}
    finally:
        pool.close()


def test_snapshots_taken_under_the_typed_env_stay_tagged_and_restore_exactly(
        database: Database, envs: dict[str, dict[str, str]]) -> None:
    with ExitStack() as stack:
        inventory = Inventory(env=envs["typed"])
        stack.callback(inventory.close)
        shipping = Shipping(env=envs["typed"])
        stack.callback(shipping.close)

        stock = Stock.create("SNAP-2", "Snapshot", "2.50", 20)
        held = {uuid4(): 2, uuid4(): 5}
        for order_id, amount in held.items():
            stock.reserve(order_id, amount)
        inventory.save(stock)
        courier = Courier.register("Snap", -6.2, 106.8)
        shipment = Shipment(order_id=uuid4(), customer_id="alice",
                            destination=DeliveryAddress("Jl. Snap 1", -6.21, 106.81))
        shipment.assign(courier)
        shipment.pick_up(courier.position)
        shipment.record_checkpoint(GeoPoint(-6.205, 106.805), "2026-12-01T12:30:00+00:00")
        shipping.save(shipment, courier)

        for app, aggregate, schema, table in ((inventory, stock, "inventory", "inventory_snapshots"),
                                              (shipping, shipment, "shipping", "shipping_snapshots")):
            app.take_snapshot(aggregate.id)
            [state] = stored_states(database, schema, table, aggregate.id)
            assert not state.startswith(MARKER)
            assert app.snapshots is not None
            snapshot: Any = next(iter(app.snapshots.get(aggregate.id, desc=True, limit=1)))
            from_snapshot = snapshot.mutate(None)
            loaded: Aggregate = app.repository.get(aggregate.id)
            assert vars(from_snapshot) == vars(aggregate)
            assert vars(loaded) == vars(aggregate)

        restored_stock = inventory.get_stock(stock.id)
        assert restored_stock.reservations == held
        assert all(type(order_id) is UUID for order_id in restored_stock.reservations)
        assert type(restored_stock.price) is Decimal
        restored_shipment = shipping.get_shipment(shipment.id)
        assert restored_shipment.position == GeoPoint(-6.205, 106.805)
        assert type(restored_shipment.position) is GeoPoint
        assert restored_shipment.destination == DeliveryAddress("Jl. Snap 1", -6.21, 106.81)
        assert type(restored_shipment.courier_id) is UUID
        assert type(restored_shipment.created_on) is datetime


@pytest.mark.parametrize("formats", [("typed", "typed"), ("tagged", "typed"), ("typed", "tagged")],
                         ids=["typed", "tagged-then-typed", "typed-then-tagged"])
def test_lag_seconds_come_from_either_format(database: Database, envs: dict[str, dict[str, str]],
                                             formats: tuple[str, str]) -> None:
    placed: list[Any] = []
    with ExitStack() as stack:
        for kind in formats:
            orders = Orders(env=envs[kind])
            stack.callback(orders.close)
            order = orders.place_order("alice", [OrderLine(uuid4(), 1, Decimal("1.00"))], "tok_ok",
                                       DeliveryAddress("Jl. Lag 1", -6.2, 106.8))[0]
            placed.append(orders.repository.get(order.id))
    seen, head = placed
    states = [stored_states(database, "orders", "orders_events", order.id)[0] for order in placed]
    assert [state.startswith(MARKER) for state in states] == [kind == "typed" for kind in formats]
    orders_model = ALL_MODELS["orders"]
    generation = {model.name: live for model, live in live_generations(database, [orders_model])}
    with database.connect() as connection:
        connection.execute(SQL("INSERT INTO {0}.{1} (application_name, notification_id) VALUES ('Orders', 1)").format(
            Identifier(READ_SCHEMA), Identifier(tracking_table(orders_model, generation["orders"]))))

    status = platform_status(database)

    orders_head = next(stream for stream in status.heads if stream.context == "Orders")
    assert orders_head.position == 2
    assert orders_head.at == head.created_on
    follower = next(f for f in status.followers if f.follower == f"read model orders (g{generation['orders']})"
                    and f.upstream == "Orders")
    assert follower.lag_events == 1
    assert follower.lag_seconds is not None
    assert follower.lag_seconds > 0
    assert follower.lag_seconds == pytest.approx((head.created_on - seen.created_on).total_seconds(), abs=1e-6)
