"""A follower can miss its wake-up (an event committed while it starts listening, a lost NOTIFY); its runner
reads the log every second anyway, so such an event waits a second, not until the next write."""

from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

from adapters.database import Database
from adapters.followers import read_models_follower
from adapters.inprocess_broker import InProcessBroker
from adapters.settings import Settings
from composition.migration import migrate
from composition.write_side import build_write_side
from domain.values import DeliveryAddress, OrderLine
from scripts.projector import projector_supervisor
from tests.conftest import make_settings
from tests.waiting import eventually


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


def test_an_event_written_without_a_notify_is_still_projected(database: Database, tmp_path: Path) -> None:
    settings = make_settings(database, tmp_path)
    place_an_order(database, settings)
    broker = InProcessBroker()
    projector = projector_supervisor(database, broker, settings, only=[read_models_follower("Orders")])
    projector.start()
    try:
        eventually(lambda: audit_rows(database) == 1, timeout=30, what="the first event projected")
        store_an_order_event_without_notify(database)
        eventually(lambda: audit_rows(database) == 2, timeout=30, what="the event stored without a NOTIFY projected")
    finally:
        projector.stop()
        broker.close()
