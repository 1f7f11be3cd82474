"""What the end-to-end tests check about the outbox and the broker: every message received, in order, and
views equal to a rebuild."""

import threading
from typing import Any
from uuid import UUID

from adapters.database import Database
from adapters.messaging import Message
from tests.waiting import eventually


class Collector:
    """What a consumer of the exchange received, in arrival order."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        with self._lock:
            self.received.append(message)

    def ids(self) -> set[str]:
        with self._lock:
            return {message.message_id for message in self.received}


def outbox(database: Database) -> list[tuple[int, str, str, UUID, dict[str, Any]]]:
    with database.connect() as connection:
        return [(int(row[0]), str(row[1]), str(row[2]), row[3], row[4]) for row in connection.execute(
            "SELECT id, message_id, routing_key, aggregate_id, body FROM read.outbox ORDER BY id").fetchall()]


def wait_until_received(collector: Collector, wanted: set[str], limit_s: float = 120) -> None:
    eventually(lambda: wanted <= collector.ids(), timeout=limit_s, interval=0.2, what=f"{len(wanted)} messages",
               explain=lambda: f"{len(wanted - collector.ids())} never arrived")


def stored_event_count(database: Database) -> int:
    with database.connect() as connection:
        row = connection.execute(
            "SELECT (SELECT count(*) FROM orders.orders_events) + (SELECT count(*) FROM inventory.inventory_events)"
            " + (SELECT count(*) FROM payments.payments_events) + (SELECT count(*) FROM shipping.shipping_events)"
        ).fetchone()
    return int(row[0]) if row else 0


def first_deliveries(received: list[Message]) -> list[Message]:
    """A redelivery after a reconnect repeats a message id; consumers drop it, and so does this check."""
    seen: set[str] = set()
    first = []
    for message in received:
        if message.message_id not in seen:
            seen.add(message.message_id)
            first.append(message)
    return first


def read_model_tables(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    tables = {"orders": "id", "products": "id", "payments": "id", "shipments": "id", "couriers": "id",
              "audit_events": "event_id", "shipments_track": "shipment_id, version"}
    with database.connect() as connection:
        return {table: connection.execute(f"SELECT * FROM read.{table} ORDER BY {order}").fetchall()
                for table, order in tables.items()}


