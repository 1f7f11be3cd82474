"""A saga step decides a batch on aggregates it keeps for the batch; an API write to one of them meanwhile makes
the batch decide again (and, if it keeps conflicting, split), never losing or doubling a decision.

Real PostgreSQL: the step and "the API" are separate applications with separate pools, as in production.
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from adapters.database import Database
from commands.context_application import CONFLICT_ATTEMPTS, Changed
from commands.inventory import Inventory
from commands.orders import Orders
from commands.saga_steps import InventorySagaStep
from composition.contexts import runner_env
from composition.migration import migrate
from domain.reservation import StockReservation
from domain.stock import Stock
from domain.values import DeliveryAddress, OrderLine
from projections.partitions import partition_of, tracking_name


class Interfering(InventorySagaStep):
    """The inventory step, with an operator restocking the product while the step decides on it."""

    name = "Inventory"  # the same tables as the real step

    restock_before: dict[UUID, int]
    """Order id -> how many more times an operator restocks its product just before the step reserves it."""
    api: Inventory

    def on_order_placed(self, placed: Any) -> Changed:
        if self.restock_before.get(placed.originator_id, 0) > 0:
            self.restock_before[placed.originator_id] -= 1
            self.api.restock(placed.lines[0].product_id, 5, "a delivery came in")
        return super().on_order_placed(placed)


@pytest.fixture
def env(database: Database) -> dict[str, str]:
    migrate(database)
    return runner_env(database)


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[tuple[Orders, Inventory]]:
    orders, inventory = Orders(env=env), Inventory(env=env)
    yield orders, inventory
    orders.close()
    inventory.close()


@pytest.fixture
def step(env: dict[str, str], api: tuple[Orders, Inventory]) -> Iterator[Interfering]:
    interfering = Interfering(env=env)
    interfering.api = api[1]
    interfering.restock_before = {}
    yield interfering
    interfering.close()


def placed_orders(orders: Orders, product: Stock, count: int) -> list[tuple[Any, Tracking]]:
    for index in range(count):
        orders.place_order(f"c{index}", [OrderLine(product.id, 1, product.price)], "tok_ok",
                           DeliveryAddress("Jl. Jaksa 5", -6.2, 106.8))
    batch = []
    for notification in orders.recorder.select_notifications(start=1, limit=100):
        event = orders.mapper.to_domain_event(notification)
        batch.append((event, Tracking(tracking_name("Orders", partition_of(event.originator_id)), notification.id)))
    return batch


def reservations(step: InventorySagaStep, order_ids: list[UUID]) -> dict[UUID, list[str]]:
    """Each order's reservation events, by name."""
    return {order_id: [type(event).__name__ for event in step.events.get(StockReservation.create_id(order_id))]
            for order_id in order_ids}


def stock_facts(step: InventorySagaStep, product_id: UUID) -> list[str]:
    return [type(event).__name__ for event in step.events.get(product_id)]


def test_a_batch_decides_again_when_an_api_write_conflicts(step: Interfering, api: tuple[Orders, Inventory]) -> None:
    orders, inventory = api
    product, _ = inventory.create_product("TEH-1", "Teh", "3.50", 3)
    batch = placed_orders(orders, product, 6)
    order_ids = [event.originator_id for event, _ in batch]
    step.restock_before = {order_ids[2]: 1}  # once, in the middle of the batch

    step.process_batch(batch, upstream="Orders")

    # Decided on the restocked stock (3 + 5 units), each order exactly once.
    assert reservations(step, order_ids) == {order_id: ["Requested", "Held"] for order_id in order_ids}
    facts = stock_facts(step, product.id)
    assert facts.count("Restocked") == 1
    assert facts.count("Reserved") == 6
    assert step.get_stock(product.id).available == 3 + 5 - 6
    last = {tracking.application_name: tracking.notification_id for _, tracking in batch}
    assert {name: step.recorder.max_tracking_id(name) for name in last} == last


def test_a_batch_that_keeps_conflicting_is_split_and_still_decides_each_order_once(
        step: Interfering, api: tuple[Orders, Inventory]) -> None:
    orders, inventory = api
    product, _ = inventory.create_product("KOPI-1", "Kopi", "5.00", 4)
    batch = placed_orders(orders, product, 8)
    order_ids = [event.originator_id for event, _ in batch]
    # The last order's product is restocked on every attempt of the whole batch: it can only get through once
    # the batch has been split down to where those restocks stop.
    step.restock_before = {order_ids[-1]: CONFLICT_ATTEMPTS + 2}

    step.process_batch(batch, upstream="Orders")

    decided = reservations(step, order_ids)
    assert all(events[0] == "Requested" and len(events) == 2 for events in decided.values()), decided
    assert sum(events[1] == "Held" for events in decided.values()) == len(order_ids)
    facts = stock_facts(step, product.id)
    assert facts.count("Restocked") == CONFLICT_ATTEMPTS + 2
    assert facts.count("Reserved") == len(order_ids)


def test_a_batch_recorded_already_changes_nothing_when_handed_again(
        step: Interfering, api: tuple[Orders, Inventory]) -> None:
    orders, inventory = api
    product, _ = inventory.create_product("ROTI-1", "Roti", "2.00", 10)
    batch = placed_orders(orders, product, 3)
    step.process_batch(batch, upstream="Orders")
    before = stock_facts(step, product.id)

    step.process_batch(batch, upstream="Orders")  # a redelivery (a restart, a takeover)

    assert stock_facts(step, product.id) == before
    assert Decimal(step.get_stock(product.id).available) == 7
