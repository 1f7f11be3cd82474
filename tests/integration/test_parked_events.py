"""Poison events on the real PostgreSQL: a follower that keeps failing on one event parks it after its retries and
goes on; later events of that aggregate wait behind it; an operator's retry (once the code is fixed) processes
them in order, a skip is audited and stays skipped through a rebuild; a lost connection is never a reason to park.

The followers run in this process (the projector's and the worker's own supervisors), so a test can break a
reducer or a saga step for one aggregate, and fix it, with a switch.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import OperationalError

from adapters.database import Database
from adapters.followers import edge_name, read_models_follower
from adapters.inprocess_broker import InProcessBroker
from adapters.parked_events import PARKED_ACTIONS, NotParked, ParkedEvents
from adapters.rebuild_in_place import rebuild_in_place
from adapters.settings import Settings
from adapters.supervisor import Supervisor
from commands.saga_steps import InventorySagaStep
from composition.migration import migrate
from composition.write_side import WriteSide, build_write_side
from domain.identity import Actor, Role
from domain.reservation import StockReservation
from domain.values import DeliveryAddress, OrderLine
from projections.models import ALL_MODELS
from queries.parked import ParkedEvent, ParkedStatus
from scripts.projector import projector_supervisor
from scripts.rebuild import REBUILD_SOURCES
from scripts.worker import worker_supervisor
from tests.conftest import make_settings
from tests.waiting import eventually

ORDERS_FOLLOWER = read_models_follower("Orders")
ADDRESS = DeliveryAddress("Jl. Jaksa 5", -6.2, 106.8)
WAIT_S = 60.0


class Switch:
    """Which aggregates the code fails on, and how, until the test fixes it."""

    def __init__(self) -> None:
        self.poisoned: set[UUID] = set()
        self.transient_failures: dict[UUID, int] = {}

    def check(self, aggregate_id: UUID) -> None:
        if aggregate_id in self.poisoned:
            raise ValueError(f"the reducer cannot handle {aggregate_id}")
        if self.transient_failures.get(aggregate_id, 0) > 0:
            self.transient_failures[aggregate_id] -= 1
            raise OperationalError("server closed the connection unexpectedly")


@pytest.fixture
def switch(monkeypatch: pytest.MonkeyPatch) -> Switch:
    """The orders read model's reducer, failing for the aggregates the switch names."""
    switch = Switch()
    model = ALL_MODELS["orders"]
    assert model.documents is not None
    reduce = model.documents.reduce

    def reducer(doc: Any, event: Any) -> Any:
        switch.check(event.originator_id)
        return reduce(doc, event)

    monkeypatch.setitem(ALL_MODELS, "orders", replace(model, documents=replace(model.documents, reduce=reducer)))
    return switch


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    migrate(database)
    return make_settings(database, tmp_path)


@pytest.fixture
def write(database: Database, settings: Settings) -> Iterator[WriteSide]:
    with ExitStack() as stack:
        yield build_write_side(database, settings, stack)


def running(supervisor: Supervisor, stack: ExitStack) -> Supervisor:
    supervisor.start()
    stack.callback(supervisor.stop)
    return supervisor


def projector(database: Database, settings: Settings, stack: ExitStack) -> Supervisor:
    return running(projector_supervisor(database, InProcessBroker(), settings, only=[ORDERS_FOLLOWER]), stack)


def place(write: WriteSide, product: UUID, customer: str) -> UUID:
    order, _ = write.orders.place_order(customer, [OrderLine(product, 1, Decimal("2.00"))], "tok_ok", ADDRESS)
    return order.id


def projected_orders(database: Database) -> dict[UUID, str]:
    with database.connect() as connection:
        return {row[0]: row[1] for row in connection.execute("SELECT id, doc ->> 'status' FROM read.orders")}


def parked_of(database: Database, aggregate_id: UUID, follower: str = ORDERS_FOLLOWER) -> list[ParkedEvent]:
    return [row for row in ParkedEvents.of(database).listed(follower, tuple(ParkedStatus))
            if row.originator_id == aggregate_id]


def orders_table(database: Database) -> list[tuple[Any, ...]]:
    with database.connect() as connection:
        return connection.execute("SELECT id, doc, status, customer_id FROM read.orders ORDER BY id").fetchall()


def test_a_poison_event_is_parked_its_aggregate_held_and_a_retry_processes_both_in_order(
        database: Database, settings: Settings, write: WriteSide, switch: Switch) -> None:
    product, _ = write.inventory.create_product("KOPI-1", "Kopi", Decimal("2.00"), 10_000)
    poisoned = place(write, product.id, "alice")
    switch.poisoned.add(poisoned)
    with ExitStack() as stack:
        projector(database, settings, stack)
        eventually(lambda: [row.status for row in parked_of(database, poisoned)]
                   == [ParkedStatus.PARKED], timeout=WAIT_S, what="the poison event parked")
        placed = parked_of(database, poisoned)[0]
        assert placed.attempts == 3
        assert "cannot handle" in placed.error
        assert "ValueError" in placed.traceback
        assert placed.topic.endswith("Order.Placed")

        # A later event of the same order waits behind it; a hundred other orders flow past.
        write.orders.cancel_order(Actor(Role.CUSTOMER, "alice"), poisoned, "changed my mind")
        others = [place(write, product.id, f"customer-{index}") for index in range(100)]
        eventually(lambda: set(others) <= set(projected_orders(database)),
                   timeout=WAIT_S, what="the other orders projected")
        eventually(lambda: [row.status for row in parked_of(database, poisoned)]
                   == [ParkedStatus.PARKED, ParkedStatus.HELD], timeout=WAIT_S, what="the cancellation held")
        assert poisoned not in projected_orders(database)

        # The code is fixed; an operator retries: the placement, then the cancellation held behind it.
        switch.poisoned.clear()
        ParkedEvents.of(database).retry(placed.id, "test-operator")
        eventually(lambda: projected_orders(database).get(poisoned) == "CANCELLED",
                   timeout=WAIT_S, what="both processed in order")
        assert [row.status for row in parked_of(database, poisoned)] == [ParkedStatus.RETRIED, ParkedStatus.RETRIED]
    live = orders_table(database)
    results = rebuild_in_place(database, REBUILD_SOURCES, list(ALL_MODELS.values()))
    assert all(result.ok for result in results)
    assert orders_table(database) == live  # the live path, parking and retry included, equals a rebuild


def test_a_skip_is_audited_and_a_rebuild_keeps_it_skipped(database: Database, settings: Settings,
                                                           write: WriteSide, switch: Switch) -> None:
    product, _ = write.inventory.create_product("TEH-1", "Teh", Decimal("2.00"), 100)
    poisoned = place(write, product.id, "bob")
    switch.poisoned.add(poisoned)
    fine = place(write, product.id, "carol")
    parked = ParkedEvents.of(database)
    with ExitStack() as stack:
        projector(database, settings, stack)
        eventually(lambda: len(parked_of(database, poisoned)) == 1, timeout=WAIT_S, what="the poison event parked")
        eventually(lambda: fine in projected_orders(database), timeout=WAIT_S, what="the next order projected")
        row = parked_of(database, poisoned)[0]
        with pytest.raises(NotParked):
            parked.retry(a_held_row(database, row), "test-operator")  # a held event follows the one before it
        skipped = parked.skip(row.id, "test-operator", "the order was entered twice by mistake")
        assert (skipped.status, skipped.resolved_by, skipped.reason) == (
            ParkedStatus.SKIPPED, "test-operator", "the order was entered twice by mistake")
        with pytest.raises(NotParked):
            parked.retry(row.id, "test-operator")  # a skipped event stays skipped
    with database.connect() as connection:
        actions = connection.execute(f"SELECT parked_id, action, actor, reason FROM {PARKED_ACTIONS}").fetchall()
    assert actions == [(row.id, "skip", "test-operator", "the order was entered twice by mistake")]
    switch.poisoned.clear()  # even with the code fixed, a rebuild does not bring a skipped event back
    results = rebuild_in_place(database, REBUILD_SOURCES, list(ALL_MODELS.values()))
    assert all(result.ok and result.left_out == 1 for result in results)
    assert poisoned not in projected_orders(database)
    assert fine in projected_orders(database)


def a_held_row(database: Database, row: ParkedEvent) -> int:
    """A held row of another follower, behind the same event: its id."""
    with database.connect() as connection:
        found = connection.execute(
            "INSERT INTO read.parked_events (follower, upstream, partition, notification_id, originator_id, "
            "originator_version, topic, status) VALUES (%s, %s, %s, %s, %s, %s, %s, 'held') RETURNING id",
            ("some-follower", row.upstream, row.partition, row.notification_id, row.originator_id,
             row.originator_version, row.topic)).fetchone()
    assert found is not None
    return int(found[0])


def test_a_lost_connection_is_retried_and_never_parked(database: Database, settings: Settings, write: WriteSide,
                                                       switch: Switch) -> None:
    product, _ = write.inventory.create_product("GULA-1", "Gula", Decimal("2.00"), 100)
    flaky = place(write, product.id, "dina")
    switch.transient_failures[flaky] = 4  # more than the attempts before parking
    with ExitStack() as stack:
        projector(database, settings, stack)
        eventually(lambda: flaky in projected_orders(database),
                   timeout=WAIT_S, what="the order projected once the connection came back")
    assert switch.transient_failures[flaky] == 0
    assert ParkedEvents.of(database).listed(statuses=tuple(ParkedStatus)) == []


def test_a_saga_step_parks_too_and_a_retry_decides_with_the_current_code(
        database: Database, settings: Settings, write: WriteSide, monkeypatch: pytest.MonkeyPatch) -> None:
    product, _ = write.inventory.create_product("BERAS-1", "Beras", Decimal("2.00"), 100)
    poisoned = place(write, product.id, "eko")
    broken = {"on": True}
    decide = InventorySagaStep.on_order_placed

    def on_order_placed(self: InventorySagaStep, placed: Any) -> Any:
        if broken["on"] and placed.originator_id == poisoned:
            raise KeyError("a field this step did not expect")
        return decide(self, placed)

    monkeypatch.setattr(InventorySagaStep, "on_order_placed", on_order_placed)
    follower = edge_name("Orders", "Inventory")
    with ExitStack() as stack:
        running(worker_supervisor(database, settings, only=[follower]), stack)
        eventually(lambda: len(parked_of(database, poisoned, follower)) == 1,
                   timeout=WAIT_S, what="the saga step parked the order")
        fine = place(write, product.id, "fina")
        eventually(lambda: write.inventory.exists(StockReservation.create_id(fine)),
                   timeout=WAIT_S, what="the next order reserved")
        assert not write.inventory.exists(StockReservation.create_id(poisoned))
        broken["on"] = False
        ParkedEvents.of(database).retry(parked_of(database, poisoned, follower)[0].id, "test-operator")
        eventually(lambda: write.inventory.exists(StockReservation.create_id(poisoned)),
                   timeout=WAIT_S, what="the retried order reserved")
        eventually(lambda: parked_of(database, poisoned, follower)[0].status
                   is ParkedStatus.RETRIED, timeout=WAIT_S, what="the row resolved")
