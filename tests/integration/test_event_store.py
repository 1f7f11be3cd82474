"""The four contexts' event stores on the real PostgreSQL: schemas, round trips, time travel, conflicts."""

from collections.abc import Iterator
from decimal import Decimal
from threading import Barrier, Thread
from uuid import uuid4

import pytest

from adapters.database import CONTEXT_SCHEMAS, READ_SCHEMA, Database
from adapters.settings import Settings
from commands.errors import AlreadyExists, NotFound
from composition.migration import migrate
from composition.write_side import WriteSide, build_write_side
from domain.base import message_context
from domain.identity import Actor, Role
from domain.order import Order, OrderStatus
from domain.values import DeliveryAddress, OrderLine


@pytest.fixture
def write(database: Database, settings: Settings) -> Iterator[WriteSide]:
    from contextlib import ExitStack

    migrate(database)
    with ExitStack() as stack:
        yield build_write_side(database, settings, stack)


def test_migrate_creates_each_context_schema_and_is_idempotent(database: Database) -> None:
    migrate(database)
    migrate(database)
    with database.connect() as connection:
        tables = {
            (schema, table) for schema, table in connection.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }
    for app_name, schema in CONTEXT_SCHEMAS.items():
        assert (schema, f"{app_name.lower()}_events") in tables
    assert (READ_SCHEMA, "idempotency_keys") in tables


def test_events_land_in_their_context_schema_with_correlation(write: WriteSide, database: Database) -> None:
    with message_context("corr-1", "request:1"):
        stock, _ = write.inventory.create_product("tea-1", "Green tea", Decimal("3.50"), 10)
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT topic, convert_from(state, 'UTF8') FROM inventory.inventory_events WHERE originator_id = %s",
            (stock.id,),
        ).fetchall()
        assert connection.execute("SELECT count(*) FROM orders.orders_events").fetchone() == (0,)
    assert len(rows) == 1
    topic, state = rows[0]
    assert topic == "domain.stock:Stock.ProductCreated"
    assert '"correlation_id":"corr-1"' in state
    assert '"causation_id":"request:1"' in state


def test_an_order_round_trips_and_travels_back_in_time(write: WriteSide) -> None:
    stock, _ = write.inventory.create_product("mug", "Mug", Decimal("7.25"), 5)
    line = OrderLine(stock.id, 2, stock.price)
    delivery = DeliveryAddress("Jl. Thamrin 1", -6.19, 106.82)
    order, position = write.orders.place_order("cust-1", [line], "tok_ok", delivery)
    assert position >= 1
    order.record_stock_reserved()
    order.record_payment_authorized()
    write.orders.save(order)

    now = write.orders.get_order(order.id)
    assert now.status is OrderStatus.CONFIRMED
    assert now.lines == [line]
    assert now.total == Decimal("14.50")
    assert now.delivery == DeliveryAddress("Jl. Thamrin 1", -6.19, 106.82)
    then: Order = write.orders.repository.get(order.id, version=1)
    assert then.status is OrderStatus.PENDING


def test_an_existing_sku_is_refused(write: WriteSide) -> None:
    write.inventory.create_product("SKU-1", "One", Decimal("1.00"), 1)
    with pytest.raises(AlreadyExists):
        write.inventory.create_product("sku-1", "Again", Decimal("2.00"), 1)


def test_another_customers_order_is_not_found(write: WriteSide) -> None:
    stock, _ = write.inventory.create_product("pen", "Pen", Decimal("1.00"), 5)
    order, _ = write.orders.place_order("alice", [OrderLine(stock.id, 1, stock.price)], "tok_ok",
                                        DeliveryAddress("x", 0.0, 0.0))
    with pytest.raises(NotFound):
        write.orders.cancel_order(Actor(Role.CUSTOMER, "mallory"), order.id)
    assert write.orders.get_order(order.id).status is OrderStatus.PENDING


def test_concurrent_restocks_are_retried_and_none_is_lost(write: WriteSide) -> None:
    stock, _ = write.inventory.create_product("bolt", "Bolt", Decimal("0.10"), 0)
    writers = 8
    barrier = Barrier(writers)
    errors: list[BaseException] = []

    def restock() -> None:
        barrier.wait()
        try:
            write.inventory.restock(stock.id, 3, "delivery")
        except BaseException as error:  # collected: a thread's failure must fail the test
            errors.append(error)

    threads = [Thread(target=restock) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = write.inventory.get_stock(stock.id)
    assert final.on_hand == 3 * writers
    assert final.version == 1 + writers


def test_placing_with_the_same_order_id_twice_yields_the_first_order(write: WriteSide) -> None:
    stock, _ = write.inventory.create_product("cup", "Cup", Decimal("2.00"), 5)
    order_id = uuid4()
    first, _ = write.orders.place_order("c", [OrderLine(stock.id, 1, stock.price)], "tok_ok",
                                        DeliveryAddress("x", 0.0, 0.0), order_id=order_id)
    second, _ = write.orders.place_order("c", [OrderLine(stock.id, 3, stock.price)], "tok_ok",
                                         DeliveryAddress("x", 0.0, 0.0), order_id=order_id)
    assert second.id == first.id
    assert second.lines[0].quantity == 1
