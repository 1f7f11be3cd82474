"""Two runners writing the same read-model document at once: neither may lose the other's change.

The orders document is written by four runners (one per context). When an order's first events from two
contexts arrive together, both transactions find no document yet; without a lock on the document's key the
later upsert replaced the earlier one's document, and the order lost its customer (the web page then showed
"not found" for the customer's own fresh order).
"""

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from adapters.database import READ_SCHEMA, Database
from adapters.postgres_read_models import _ModelWriter, create_statements, doc_table
from adapters.settings import Settings
from composition.migration import migrate
from composition.write_side import WriteSide, build_write_side
from domain.values import DeliveryAddress, OrderLine
from projections.models.orders import ORDERS
from tests.waiting import eventually

GENERATION = 1


@pytest.fixture
def write(database: Database, settings: Settings) -> Iterator[WriteSide]:
    migrate(database)
    with database.connect() as connection:
        for statement in create_statements(ORDERS, GENERATION):
            connection.execute(statement)
    with ExitStack() as stack:
        yield build_write_side(database, settings, stack)


def an_orders_first_two_events(write: WriteSide) -> list[Any]:
    stock, _ = write.inventory.create_product("RACE-1", "Race", Decimal("2.00"), 10)
    order, _ = write.orders.place_order("alice", [OrderLine(stock.id, 1, stock.price)], "tok_ok",
                                        DeliveryAddress("Jl. Race 1", -6.2, 106.8))
    order.record_stock_reserved()
    write.orders.save(order)
    return list(write.orders.repository.event_store.get(order.id))


def waiting_on_a_lock(database: Database) -> bool:
    """Whether a session of the database waits on a lock another holds (the race this test sets up)."""
    with database.connect() as connection:
        row = connection.execute("SELECT count(*) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND wait_event_type = 'Lock'").fetchone()
    return bool(row and row[0])


def test_two_runners_creating_one_document_together_keep_both_changes(write: WriteSide,
                                                                      database: Database) -> None:
    placed, reserved = an_orders_first_two_events(write)[:2]
    writer = _ModelWriter(ORDERS, GENERATION)
    first_applied = threading.Event()
    second_started = threading.Event()
    failures: list[Exception] = []

    def first() -> None:
        # Applies its event and holds the transaction open while the second runner starts on the same order.
        try:
            with psycopg.connect(database.url, row_factory=dict_row) as connection, connection.transaction():
                writer.apply(connection.cursor(), placed, Tracking("Orders", 1))
                first_applied.set()
                second_started.wait(5)
                eventually(lambda: waiting_on_a_lock(database), timeout=30,
                           what="the second runner waiting on the first's document")
        except Exception as error:  # reported by the assertion below, not lost in the thread
            failures.append(error)
            first_applied.set()

    def second() -> None:
        try:
            first_applied.wait(5)
            with psycopg.connect(database.url, row_factory=dict_row) as connection, connection.transaction():
                second_started.set()
                # Another upstream's tracking row, so only the document itself is shared.
                writer.apply(connection.cursor(), reserved, Tracking("Inventory", 1))
        except Exception as error:  # reported by the assertion below, not lost in the thread
            failures.append(error)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures

    with database.connect() as connection:
        row = connection.execute(SQL("SELECT doc FROM {0}.{1} WHERE id = %s").format(
            Identifier(READ_SCHEMA), Identifier(doc_table(ORDERS, GENERATION))), (placed.originator_id,)).fetchone()
    assert row is not None
    doc = row[0]
    assert doc["customer_id"] == "alice"
    assert [entry["event"] for entry in doc["timeline"]] == ["Order.Placed", "Order.StockReserved"]
