"""Dispatching on the real PostgreSQL: the index in the events' transactions, concurrent partitioned decisions,
the sweeper, old stores that still hold the retired Dispatcher's events, and snapshots of busy aggregates."""

import threading
import time
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from adapters.database import Database, create_schemas
from adapters.dispatch_index import DispatchIndexRecorder, IndexSnapshot, fill_dispatch_index
from adapters.event_store_reader import EventStoreQueries
from adapters.read_database import read_only_pool
from adapters.store_checks import DISPATCH_INDEX
from commands.context_application import ContextApplication
from commands.ports import Checkpoint
from commands.saga_steps import ShippingSagaStep
from commands.shipping import SWEEP_CAUSATION, Shipping
from composition.contexts import runner_env
from composition.migration import migrate
from domain.identity import Actor, Role
from domain.order import Order
from domain.shipping import Courier, CourierStatus, Dispatcher, Shipment, ShipmentStatus
from domain.values import DeliveryAddress, GeoPoint, OrderLine
from projections.partitions import tracking_name
from scripts.cli import main
from tests.integration.test_rebuild import project_live

HOME = DeliveryAddress("Jl. Jaksa 5", -6.186, 106.83)


def snapshot(app: ContextApplication) -> IndexSnapshot:
    assert isinstance(app.recorder, DispatchIndexRecorder)
    return app.recorder.snapshot()


def free_couriers(app: ContextApplication) -> set[UUID]:
    return {row.courier_id for row in snapshot(app).couriers if row.available}


def waiting(app: ContextApplication) -> list[UUID]:
    return [row.shipment_id for row in sorted(snapshot(app).waiting, key=lambda row: row.queued_at)]


@pytest.fixture
def migrated(database: Database) -> Database:
    migrate(database)
    return database


@pytest.fixture
def shipping(migrated: Database) -> Iterator[Shipping]:
    with closing(Shipping(env=runner_env(migrated))) as app:
        yield app


def test_the_index_commits_and_rolls_back_with_its_events(shipping: Shipping, migrated: Database) -> None:
    courier, _ = shipping.register_courier("Budi", -6.2, 106.8)
    with closing(Shipping(env=runner_env(migrated))) as other:
        mine, theirs = shipping.get_courier(courier.id), other.get_courier(courier.id)
        mine.move_to(-6.21, 106.81)
        shipping.save(mine)
        theirs.take(uuid4())
        with pytest.raises(IntegrityError):
            other.save(theirs)  # decided on the old version: refused, and its row change with it

    (row,) = snapshot(shipping).couriers
    assert (row.courier_id, row.available, row.lat, row.lng) == (courier.id, True, -6.21, 106.81)
    shipment = Shipment.create_id(order_id := uuid4())
    shipping.save(*shipping.ship_order(order_id, "alice", HOME))
    assert free_couriers(shipping) == set()
    assert shipping.get_shipment(shipment).courier_id == courier.id
    assert waiting(shipping) == []


def test_a_wake_up_lost_between_two_decisions_is_made_up_by_the_sweep(shipping: Shipping, migrated: Database) -> None:
    """Two decisions at once, each blind to the other: the one queueing a shipment sees no free courier, the one
    freeing the courier sees no waiting shipment, and both commit (they touch different aggregates)."""
    courier, _ = shipping.register_courier("Budi", -6.19, 106.82)
    carried = uuid4()
    shipping.save(*shipping.ship_order(carried, "alice", HOME))
    waiting_order = uuid4()
    with closing(Shipping(env=runner_env(migrated))) as other:
        queued = shipping.ship_order(waiting_order, "bob", HOME)  # nobody free: it will wait
        other.save(*other.finish_shipment(carried))  # free again, nobody waiting yet
        shipping.save(*queued)

    shipment_id = Shipment.create_id(waiting_order)
    assert (free_couriers(shipping), waiting(shipping)) == ({courier.id}, [shipment_id])

    with closing(ShippingSagaStep(env=runner_env(migrated))) as sweeper:  # as the worker sweeps: on its step
        assert sweeper.dispatch_waiting() == 1

    assert shipping.get_shipment(shipment_id).courier_id == courier.id
    assert (free_couriers(shipping), waiting(shipping)) == (set(), [])
    assigned = list(shipping.events.get(shipment_id))[-1]
    assert assigned.causation_id == SWEEP_CAUSATION  # type: ignore[attr-defined]


OPERATOR = Actor(Role.ADMIN, "operator")


class Partition:
    """One partition of the orders-to-shipping follower, fed as its runner feeds it: confirmed orders, and each
    order's receipt once its shipment has had a courier (who picked it up and delivered it)."""

    def __init__(self, step: ShippingSagaStep, partition: int, orders: list[Order]) -> None:
        self.step = step
        self.tracking = tracking_name("Orders", partition)
        self.orders = orders
        self.position = 0
        self.received: set[UUID] = set()

    def feed(self, facts: list[Any]) -> None:
        batch = []
        for fact in facts:
            self.position += 1
            batch.append((fact, Tracking(self.tracking, self.position)))
        self.step.process_batch(batch, upstream="Orders")

    @staticmethod
    def fact(order: Order, name: str) -> Any:
        return next(event for event in order.collect_events() if type(event).__name__ == name)

    def run(self, deadline: float) -> None:
        """One order confirmed at a time, with the receipts of those that have a courier: few ever wait, so a
        courier freed in one partition while another queues a shipment (a lost wake-up) happens often."""
        unconfirmed = list(self.orders)
        while len(self.received) < len(self.orders):
            assert time.monotonic() < deadline, f"{self.tracking}: {len(self.orders) - len(self.received)} unserved"
            facts = [self.fact(unconfirmed.pop(0), "Confirmed")] if unconfirmed else []
            for order in self.orders:
                if order.id in self.received or order in unconfirmed:
                    continue
                shipment = self.step.find_shipment_for(order.id)
                if shipment is not None and shipment.courier_id is not None:
                    self.step.pick_up(OPERATOR, shipment.id)
                    self.step.mark_delivered(OPERATOR, shipment.id)
                    order.mark_in_transit(shipment.id, shipment.courier_id)
                    order.mark_delivered()
                    order.confirm_receipt()
                    facts.append(self.fact(order, "Received"))
                    self.received.add(order.id)
            if facts:
                self.feed(facts)
            else:
                time.sleep(0.01)


def confirmed_order(index: int) -> Order:
    delivery = DeliveryAddress(f"Jl. Dispatch {index}", -6.2 + (index % 7) / 100, 106.8 + (index % 5) / 100)
    order = Order.place(f"customer-{index}", [OrderLine(uuid4(), 1, Decimal("1.00"))], "tok_ok", delivery)
    order.record_stock_reserved()
    order.record_payment_authorized()
    return order


def test_concurrent_partitioned_dispatch_gives_no_courier_two_shipments_and_leaves_none_idle(
        shipping: Shipping, migrated: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    couriers = [shipping.register_courier(f"Courier {index}", -6.2, 106.8 + index / 100)[0] for index in range(3)]
    decide = ShippingSagaStep.ship_order

    def slow_to_record(self: ShippingSagaStep, *args: Any) -> Any:
        # A batch that takes a while between deciding and committing: the window a wake-up is lost in.
        decided = decide(self, *args)
        time.sleep(0.02)
        return decided

    monkeypatch.setattr(ShippingSagaStep, "ship_order", slow_to_record)
    orders = [confirmed_order(index) for index in range(48)]
    steps = [ShippingSagaStep(env=runner_env(migrated)) for _ in range(4)]  # as four worker processes would
    partitions = [Partition(step, index, orders[index::4]) for index, step in enumerate(steps)]
    deadline = time.monotonic() + 180
    done = threading.Event()
    failures: list[BaseException] = []

    def run(partition: Partition) -> None:
        try:
            partition.run(deadline)
        except BaseException as error:
            failures.append(error)

    def sweep() -> None:
        while not done.wait(0.2):
            try:
                shipping.dispatch_waiting()
            except BaseException as error:
                failures.append(error)

    threads = [threading.Thread(target=run, args=(partition,)) for partition in partitions]
    sweeper = threading.Thread(target=sweep)
    try:
        sweeper.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        done.set()
        sweeper.join()
        for step in steps:
            step.close()
    assert failures == []

    # Every shipment had exactly one courier; every courier carried one shipment at a time.
    shipments = [shipping.find_shipment_for(order.id) for order in orders]
    assert all(shipment is not None and shipment.status is ShipmentStatus.DELIVERED for shipment in shipments)
    assigned: dict[UUID, list[UUID]] = {courier.id: [] for courier in couriers}
    for shipment in shipments:
        assert shipment is not None
        events = [type(event).__name__ for event in shipping.events.get(shipment.id)]
        assert events.count("CourierAssigned") == 1
        assert shipment.courier_id is not None
        assigned[shipment.courier_id].append(shipment.id)
    for courier in couriers:
        facts: list[Any] = [event for event in shipping.events.get(courier.id)
                            if type(event).__name__ != "Registered"]
        names = [type(event).__name__ for event in facts]
        assert names == ["BecameBusy", "BecameAvailable"] * (len(names) // 2)
        assert sorted(str(event.shipment_id) for event in facts if type(event).__name__ == "BecameBusy") == sorted(
            str(each) for each in assigned[courier.id])
        assert shipping.get_courier(courier.id).status is CourierStatus.AVAILABLE
    assert (free_couriers(shipping), waiting(shipping)) == ({courier.id for courier in couriers}, [])

    monkeypatch.setenv("LOGISTICS_DATABASE_URL", migrated.url)
    monkeypatch.setenv("LOGISTICS_SECRET", "test-secret-that-is-long-enough-for-hs256-signing")
    monkeypatch.setenv("LOGISTICS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOGISTICS_ENV_FILE", str(tmp_path / "no.env"))
    capsys.readouterr()
    assert main(["verify"]) == 0, capsys.readouterr().out


class OldShipping(ContextApplication):
    """The shipping context as it was before the dispatch index: plain recorders, and a Dispatcher."""

    name = "Shipping"


def old_env(database: Database) -> dict[str, str]:
    env = database.eventsourcing_env(pool_size=1, max_overflow=1, create_table=True)
    del env["SHIPPING_APPLICATION_RECORDER_TOPIC"], env["SHIPPING_PROCESS_RECORDER_TOPIC"]
    return env


def test_a_store_with_the_retired_dispatchers_events_fills_its_index_and_verifies_rebuilds_and_audits(
        database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    create_schemas(database)
    with closing(OldShipping(env=old_env(database))) as old:
        # As the old code wrote it: every courier enrolled, every shipment without a courier queued.
        busy, idle_later = Courier.register("Budi", -6.19, 106.82), Courier.register("Siti", -6.3, 106.9)
        carried = Shipment(order_id=uuid4(), customer_id="alice", destination=HOME)
        queued = Shipment(order_id=uuid4(), customer_id="bob", destination=HOME)
        dispatcher = Dispatcher()
        dispatcher.enroll(busy.id)
        dispatcher.enroll(idle_later.id)
        carried.assign(busy)
        idle_later.take(uuid4())
        dispatcher.queue(queued.id)
        old.save(busy, idle_later, carried, queued, dispatcher)
        busy.move_to(-6.188, 106.828)
        # The retired Shipment.update_location: a carried shipment's LocationUpdated per courier report (its
        # event's constructor stays, so that old stores decode).
        carried._location_updated(carried.order_id, -6.188, 106.828)
        old.save(busy, carried)

    migrate(database)  # creates the index beside the old log and fills it from there

    with closing(Shipping(env=runner_env(database))) as shipping:
        rows = snapshot(shipping)
        assert {row.courier_id: (row.available, row.lat) for row in rows.couriers} == {
            busy.id: (False, -6.188), idle_later.id: (False, -6.3)}
        assert [row.shipment_id for row in rows.waiting] == [queued.id]
        assert fill_dispatch_index(shipping.recorder, shipping.mapper.to_domain_event) is None  # once only

        # The new code carries on from the old queue: the freed courier takes the shipment that waited.
        shipping.save(*shipping.finish_shipment(carried.order_id))
        assert shipping.get_shipment(queued.id).courier_id == busy.id
        shipping.save(*shipping.free_courier(idle_later.id))
        assert (free_couriers(shipping), waiting(shipping)) == ({idle_later.id}, [])
        with database.connect() as connection:  # as if an old process had written without the index
            connection.execute("DELETE FROM shipping.dispatch_couriers")

        monkeypatch.setenv("LOGISTICS_DATABASE_URL", database.url)
        monkeypatch.setenv("LOGISTICS_SECRET", "test-secret-that-is-long-enough-for-hs256-signing")
        monkeypatch.setenv("LOGISTICS_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("LOGISTICS_ENV_FILE", str(tmp_path / "no.env"))
        capsys.readouterr()
        assert main(["migrate", "--rebuild-dispatch-index"]) == 0
        assert "dispatch index refilled from 17 shipping events" in capsys.readouterr().out
        assert (free_couriers(shipping), waiting(shipping)) == ({idle_later.id}, [])

    assert main(["verify"]) == 0, capsys.readouterr().out
    assert main(["rebuild", "--all"]) == 0, capsys.readouterr().out

    project_live(database)
    with database.connect() as connection:
        audited = [row[0] for row in connection.execute(
            "SELECT event_type FROM read.audit_events WHERE aggregate_type = 'Dispatcher' ORDER BY version")]
    assert audited == ["Dispatcher.Opened", "Dispatcher.CourierEnrolled", "Dispatcher.CourierEnrolled",
                       "Dispatcher.ShipmentQueued"]
    with closing(read_only_pool(database)) as pool:
        found = EventStoreQueries(pool).aggregate_at(Dispatcher.create_id())
    assert found is not None
    assert found.aggregate_type == "Dispatcher"
    assert found.state["waiting"] == [str(queued.id)]


def test_an_index_that_drifted_from_the_log_is_a_breach_for_verify(
        shipping: Shipping, migrated: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    courier, _ = shipping.register_courier("Budi", -6.19, 106.82)
    monkeypatch.setenv("LOGISTICS_DATABASE_URL", migrated.url)
    monkeypatch.setenv("LOGISTICS_SECRET", "test-secret-that-is-long-enough-for-hs256-signing")
    monkeypatch.setenv("LOGISTICS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOGISTICS_ENV_FILE", str(tmp_path / "no.env"))
    with migrated.connect() as connection:
        connection.execute("UPDATE shipping.dispatch_couriers SET available = false")
    capsys.readouterr()

    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert f"✗ {DISPATCH_INDEX}: 1 breach" in out
    assert str(courier.id) in out


def test_a_courier_and_its_shipment_load_from_a_snapshot_after_thousands_of_positions(shipping: Shipping) -> None:
    """A free courier's positions are its own stream's; a carrying one's are its shipment's route."""
    courier, _ = shipping.register_courier("Budi", -6.19, 106.82)
    moving = shipping.get_courier(courier.id)
    for _ in range(8):  # 2,000 positions, saved 250 at a time (snapshots are taken at every 100th version)
        for _ in range(250):
            moving.move_to(moving.position.lat + 0.00001, 106.82)
        shipping.save(moving)
    order_id = uuid4()
    shipping.save(*shipping.ship_order(order_id, "alice", HOME))
    carried = shipping.find_shipment_for(order_id)
    assert carried is not None
    shipping.pick_up(Actor(Role.COURIER, str(courier.id)), carried.id)
    carried = shipping.get_shipment(carried.id)
    for _ in range(8):
        for _ in range(250):
            assert carried.position is not None
            carried.record_checkpoint(GeoPoint(carried.position.lat - 0.00001, 106.82), None)
        shipping.save(carried)
    assert shipping.record_checkpoints([Checkpoint(courier.id, -6.2, 106.83)]) == 1
    replayed: list[int] = []
    select_events = shipping.recorder.select_events

    def counting(*args: Any, **kwargs: Any) -> Any:
        events = select_events(*args, **kwargs)
        replayed.append(len(events))
        return events

    shipping.recorder.select_events = counting  # type: ignore[method-assign]
    loaded = shipping.get_courier(courier.id)
    shipment = shipping.find_shipment_for(order_id)

    assert (loaded.version, loaded.position) == (2_002, moving.position)  # registered, moved, took the shipment
    assert shipment is not None
    assert (shipment.version, shipment.position) == (2_004, GeoPoint(-6.2, 106.83))
    assert all(count < 100 for count in replayed), replayed  # the rest came from the latest snapshot
