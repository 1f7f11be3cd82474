"""Dispatching in memory: the index's rows from events, and the Shipping decisions that read it as a hint."""

import threading
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking

from commands.dispatch_index import MemoryDispatchIndex, changes_of, index_of
from commands.saga_steps import ShippingSagaStep
from commands.shipping import NEAREST_CANDIDATES, SWEEP_CAUSATION, Shipping
from domain.base import message_context
from domain.order import Order
from domain.shipping import Courier, CourierStatus, Shipment, ShipmentStatus
from domain.values import DeliveryAddress, GeoPoint, OrderLine
from tests.unit.scenario import history
from tests.waiting import eventually

MONAS = GeoPoint(-6.1754, 106.8272)
BUNDARAN_HI = GeoPoint(-6.1950, 106.8230)
KOTA_TUA = GeoPoint(-6.1352, 106.8133)
BOGOR = GeoPoint(-6.5971, 106.8060)


def address(point: GeoPoint) -> DeliveryAddress:
    return DeliveryAddress("somewhere", point.lat, point.lng)


class TestIndexChanges:
    def test_a_registered_courier_is_a_whole_row_and_later_facts_change_parts_of_it(self) -> None:
        courier = Courier.register("Budi", MONAS.lat, MONAS.lng)
        registered = changes_of(history(courier))
        courier.take(uuid4())
        courier.move_to(KOTA_TUA.lat, KOTA_TUA.lng)
        later = changes_of(courier.collect_events())

        (row,) = registered.couriers
        assert (row.registered, row.available, row.lat, row.lng) == (True, True, MONAS.lat, MONAS.lng)
        (change,) = later.couriers
        assert (change.registered, change.available, change.lat, change.lng) == (False, False, KOTA_TUA.lat,
                                                                                  KOTA_TUA.lng)
        assert later.queued == later.unqueued == ()

    def test_a_new_shipment_waits_until_a_courier_is_assigned(self) -> None:
        shipment = Shipment(order_id=uuid4(), customer_id="alice", destination=address(MONAS))
        created = changes_of(shipment.collect_events())
        courier = Courier.register("Budi", MONAS.lat, MONAS.lng)
        courier.collect_events()
        shipment.assign(courier)
        assigned = changes_of([*shipment.collect_events(), *courier.collect_events()])

        (waiting,) = created.queued
        assert (waiting.shipment_id, waiting.order_id, waiting.lat, waiting.lng) == (
            shipment.id, shipment.order_id, MONAS.lat, MONAS.lng)
        assert assigned.unqueued == (shipment.id,)
        assert [change.available for change in assigned.couriers] == [False]

    def test_a_shipment_created_and_assigned_at_once_never_enters_the_queue(self) -> None:
        shipment = Shipment(order_id=uuid4(), customer_id="alice", destination=address(MONAS))
        shipment.assign(Courier.register("Budi", MONAS.lat, MONAS.lng))

        changes = changes_of(shipment.collect_events())

        assert (changes.queued, changes.unqueued) == ((), ())

    def test_changes_come_in_id_order_and_other_events_change_nothing(self) -> None:
        couriers = [Courier.register(f"Courier {index}", MONAS.lat, MONAS.lng) for index in range(20)]
        order = Order.place("alice", [OrderLine(uuid4(), 1, Decimal("1.00"))], "tok_ok", address(MONAS))

        changes = changes_of([*order.collect_events(), *(event for c in couriers for event in c.collect_events())])

        assert [change.courier_id for change in changes.couriers] == sorted((c.id for c in couriers),
                                                                             key=lambda each: each.int)
        assert not changes_of(order.collect_events())

    def test_the_rows_of_a_log_are_what_its_aggregates_say(self) -> None:
        near = Courier.register("near", BUNDARAN_HI.lat, BUNDARAN_HI.lng)
        far = Courier.register("far", BOGOR.lat, BOGOR.lng)
        shipments = [Shipment(order_id=uuid4(), customer_id="c", destination=address(MONAS)) for _ in range(3)]
        log = [event for aggregate in (near, far, *shipments) for event in aggregate.collect_events()]
        shipments[0].assign(near)
        shipments[1].cancel()
        far.move_to(KOTA_TUA.lat, KOTA_TUA.lng)
        log += [event for aggregate in (near, far, *shipments) for event in aggregate.collect_events()]

        index = index_of(log, page=2)

        assert {courier_id: row.available for courier_id, row in index.couriers.items()} == {near.id: False,
                                                                                          far.id: True}
        assert (index.couriers[far.id].lat, index.couriers[far.id].lng) == (KOTA_TUA.lat, KOTA_TUA.lng)
        assert list(index.waiting) == [shipments[2].id]

    def test_the_memory_index_answers_nearest_free_first_and_oldest_waiting_first(self) -> None:
        couriers = {name: Courier.register(name, point.lat, point.lng)
                    for name, point in (("monas", MONAS), ("kota", KOTA_TUA), ("bogor", BOGOR), ("hi", BUNDARAN_HI))}
        couriers["monas"].take(uuid4())
        shipments = [Shipment(order_id=uuid4(), customer_id="c", destination=address(MONAS)) for _ in range(3)]
        index = MemoryDispatchIndex()
        for aggregate in (*couriers.values(), *shipments):
            index.apply(changes_of(aggregate.collect_events()))

        nearest = index.nearest_available_couriers(MONAS, 2)
        passing = index.nearest_available_couriers(MONAS, 5, passing_over={couriers["hi"].id})

        assert nearest == [couriers["hi"].id, couriers["kota"].id]
        assert passing == [couriers["kota"].id, couriers["bogor"].id]
        assert index.oldest_waiting_shipments(2) == [shipments[0].id, shipments[1].id]
        assert index.oldest_waiting_shipments(5, passing_over={shipments[0].id}) == [s.id for s in shipments[1:]]


@pytest.fixture
def shipping() -> Iterator[Shipping]:
    app = Shipping()
    yield app
    app.close()


def register(shipping: Shipping, point: GeoPoint, name: str = "Budi") -> Courier:
    courier, _ = shipping.register_courier(name, point.lat, point.lng)
    return courier


def ship(shipping: Shipping, point: GeoPoint = MONAS, order_id: UUID | None = None) -> Shipment:
    order_id = order_id or uuid4()
    shipping.save(*shipping.ship_order(order_id, "alice", address(point)))
    shipment = shipping.find_shipment_for(order_id)
    assert shipment is not None
    return shipment


def count_loads(shipping: Shipping, monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    loaded: list[UUID] = []
    get = shipping.repository.get

    def counting(aggregate_id: UUID, *args: Any, **kwargs: Any) -> Any:
        loaded.append(aggregate_id)
        return get(aggregate_id, *args, **kwargs)

    monkeypatch.setattr(shipping.repository, "get", counting)
    return loaded


class TestDispatchDecisions:
    def test_a_shipment_gets_the_nearest_free_courier_without_loading_every_courier(
            self, shipping: Shipping, monkeypatch: pytest.MonkeyPatch) -> None:
        for index in range(60):
            register(shipping, GeoPoint(BOGOR.lat + index / 1000, BOGOR.lng), name=f"far {index}")
        near = register(shipping, BUNDARAN_HI, name="near")
        busy_next_door = register(shipping, MONAS, name="busy")
        ship(shipping, MONAS)  # busy_next_door takes it
        loaded = count_loads(shipping, monkeypatch)

        shipment = ship(shipping, MONAS)

        # The shipment's id (is there one already?), a few candidates, and the helper's re-read: not 62 couriers.
        assert len(loaded) <= 1 + NEAREST_CANDIDATES + 1
        assert shipment.courier_id == near.id
        assert shipping.get_courier(busy_next_door.id).status is CourierStatus.BUSY

    def test_a_stale_hint_is_passed_over_for_what_the_aggregates_say(self, shipping: Shipping) -> None:
        courier = register(shipping, MONAS, name="taken")
        other = register(shipping, KOTA_TUA, name="free")
        ship(shipping, MONAS)
        index = shipping.dispatch_index
        assert isinstance(index, MemoryDispatchIndex)
        # As if the index had missed the courier's BecameBusy: it is still the nearest "free" one.
        index.couriers[courier.id] = replace(index.couriers[courier.id], available=True)

        assert ship(shipping, MONAS).courier_id == other.id

    def test_with_every_courier_busy_the_shipment_waits_and_the_next_freed_courier_takes_the_oldest(
            self, shipping: Shipping) -> None:
        courier = register(shipping, MONAS)
        carried = ship(shipping)
        first, second = ship(shipping, KOTA_TUA), ship(shipping, BUNDARAN_HI)
        assert (first.status, second.status) == (ShipmentStatus.WAITING_FOR_COURIER,) * 2
        assert shipping.dispatch_index.oldest_waiting_shipments(5) == [first.id, second.id]

        shipping.save(*shipping.finish_shipment(carried.order_id))

        assert shipping.get_shipment(first.id).courier_id == courier.id
        assert shipping.get_shipment(second.id).status is ShipmentStatus.WAITING_FOR_COURIER
        assert shipping.dispatch_index.oldest_waiting_shipments(5) == [second.id]

    def test_a_new_courier_takes_the_oldest_waiting_shipment(self, shipping: Shipping) -> None:
        first, second = ship(shipping), ship(shipping)

        courier = register(shipping, BOGOR)

        assert shipping.get_shipment(first.id).courier_id == courier.id
        assert shipping.dispatch_index.oldest_waiting_shipments(5) == [second.id]

    def test_a_cancelled_waiting_shipment_is_not_given_to_the_next_courier(self, shipping: Shipping) -> None:
        cancelled, waiting = ship(shipping), ship(shipping)
        shipping.save(*shipping.cancel_shipment(cancelled.order_id))

        courier = register(shipping, MONAS)

        assert shipping.get_shipment(cancelled.id).status is ShipmentStatus.CANCELLED
        assert shipping.get_shipment(waiting.id).courier_id == courier.id

    def test_cancelling_a_carried_shipment_frees_its_courier_for_the_oldest_waiting(self, shipping: Shipping) -> None:
        courier = register(shipping, MONAS)
        carried, waiting = ship(shipping), ship(shipping)

        shipping.save(*shipping.cancel_shipment(carried.order_id))

        assert shipping.get_shipment(waiting.id).courier_id == courier.id
        assert shipping.get_courier(courier.id).shipment_id == waiting.id


class TestDispatchSweep:
    def test_a_shipment_left_waiting_beside_a_free_courier_gets_it(self, shipping: Shipping) -> None:
        """The lost wake-up: two decisions at once each missed the other, so nothing paired them."""
        order_id = uuid4()
        courier = register(shipping, KOTA_TUA)
        with message_context(str(order_id), "orders:1"):
            shipping.save(Shipment(order_id=order_id, customer_id="alice", destination=address(MONAS)))

        assert shipping.dispatch_waiting() == 1

        shipment = shipping.find_shipment_for(order_id)
        assert shipment is not None
        assert shipment.courier_id == courier.id
        assigned = list(shipping.events.get(shipment.id))[-1]
        assert (assigned.correlation_id, assigned.causation_id) == (str(order_id), SWEEP_CAUSATION)  # type: ignore[attr-defined]
        assert shipping.dispatch_waiting() == 0

    def test_it_pairs_the_oldest_first_each_with_its_nearest_and_stops_when_no_courier_is_free(
            self, shipping: Shipping) -> None:
        monas, kota = register(shipping, MONAS, "monas"), register(shipping, KOTA_TUA, "kota")
        shipments = [Shipment(order_id=uuid4(), customer_id="c", destination=address(point))
                     for point in (KOTA_TUA, MONAS, BOGOR)]
        for shipment in shipments:
            shipping.save(shipment)  # each missed the free couriers

        assert shipping.dispatch_waiting() == 2

        assert [shipping.get_shipment(s.id).courier_id for s in shipments] == [kota.id, monas.id, None]
        assert shipping.dispatch_waiting() == 0
        assert shipping.dispatch_index.oldest_waiting_shipments(5) == [shipments[2].id]

    def test_nothing_waiting_is_one_look_at_the_index(self, shipping: Shipping,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        register(shipping, MONAS)
        loaded = count_loads(shipping, monkeypatch)

        assert shipping.dispatch_waiting() == 0
        assert loaded == []


def confirmed(point: GeoPoint = MONAS) -> Order:
    order = Order.place("alice", [OrderLine(uuid4(), 1, Decimal("1.00"))], "tok_ok", address(point))
    order.record_stock_reserved()
    order.record_payment_authorized()
    return order


class Batches:
    """Feeds a Shipping saga step batches of Orders facts, as its runner would."""

    def __init__(self, step: ShippingSagaStep) -> None:
        self.step = step
        self.position = 0

    def fact(self, order: Order, name: str) -> Any:
        return next(event for event in order.collect_events() if type(event).__name__ == name)

    def run(self, *facts: Any) -> None:
        batch = []
        for fact in facts:
            self.position += 1
            batch.append((fact, Tracking("Orders", self.position)))
        self.step.process_batch(batch, upstream="Orders")


@pytest.fixture
def step() -> Iterator[ShippingSagaStep]:
    app = ShippingSagaStep()
    yield app
    app.close()


class TestDispatchInABatch:
    def test_more_shipments_in_one_batch_than_candidates_per_look_each_get_a_courier(
            self, step: ShippingSagaStep) -> None:
        couriers = [register(step, GeoPoint(MONAS.lat + index / 1000, MONAS.lng), f"c{index}") for index in range(12)]
        orders = [confirmed() for _ in range(12)]
        feed = Batches(step)

        feed.run(*(feed.fact(order, "Confirmed") for order in orders))

        carried = [step.find_shipment_for(order.id) for order in orders]
        assert sorted(str(s.courier_id) for s in carried if s) == sorted(str(c.id) for c in couriers)

    def test_a_courier_freed_earlier_in_the_batch_takes_a_shipment_confirmed_later_in_it(
            self, step: ShippingSagaStep) -> None:
        courier = register(step, MONAS)
        first = confirmed()
        feed = Batches(step)
        feed.run(feed.fact(first, "Confirmed"))
        shipment = step.find_shipment_for(first.id)
        assert shipment is not None
        assert shipment.courier_id is not None
        first.mark_in_transit(shipment.id, shipment.courier_id)
        first.mark_delivered()
        first.confirm_receipt()
        second = confirmed(KOTA_TUA)

        feed.run(feed.fact(first, "Received"), feed.fact(second, "Confirmed"))

        assert step.get_courier(courier.id).shipment_id == Shipment.create_id(second.id)

    def test_a_shipment_queued_earlier_in_the_batch_goes_to_a_courier_freed_later_in_it(
            self, step: ShippingSagaStep) -> None:
        courier = register(step, MONAS)
        first = confirmed()
        feed = Batches(step)
        feed.run(feed.fact(first, "Confirmed"))
        shipment = step.find_shipment_for(first.id)
        assert shipment is not None
        assert shipment.courier_id is not None
        first.mark_in_transit(shipment.id, shipment.courier_id)
        first.mark_delivered()
        first.confirm_receipt()
        second = confirmed(KOTA_TUA)

        feed.run(feed.fact(second, "Confirmed"), feed.fact(first, "Received"))

        assert step.get_courier(courier.id).shipment_id == Shipment.create_id(second.id)
        assert step.dispatch_index.oldest_waiting_shipments(5) == []


class FakeLeases:
    def __init__(self, partitions: dict[int, int]) -> None:
        self.partitions = partitions
        self.asked: list[str] = []

    def held(self, follower: str) -> dict[int, int]:
        self.asked.append(follower)
        return self.partitions


class FakeHost:
    def __init__(self, partitions: dict[int, int]) -> None:
        self.leases = FakeLeases(partitions)


@pytest.mark.parametrize("holds_partition_0", [True, False], ids=["partition 0 here", "partition 0 elsewhere"])
def test_the_worker_sweeps_only_where_it_holds_partition_0_of_orders_to_shipping(
        shipping: Shipping, monkeypatch: pytest.MonkeyPatch, holds_partition_0: bool) -> None:
    from scripts import worker

    monkeypatch.setattr(worker, "DISPATCH_SWEEP_S", 0.01)
    courier = register(shipping, KOTA_TUA)
    left_waiting = Shipment(order_id=uuid4(), customer_id="alice", destination=address(MONAS))
    shipping.save(left_waiting)  # beside a free courier: a lost wake-up
    host = FakeHost({0: 3, 5: 3} if holds_partition_0 else {1: 3, 5: 3})
    stop = threading.Event()
    loop = threading.Thread(target=worker.dispatch_sweeper(host, shipping, "orders-to-shipping"),  # type: ignore[arg-type]
                            args=(stop,))
    loop.start()
    try:
        if holds_partition_0:
            eventually(lambda: shipping.get_shipment(left_waiting.id).courier_id == courier.id, timeout=10,
                       interval=0.005, what="the sweep assigning the free courier")
        else:
            # It looked, more than once, and left it alone.
            eventually(lambda: len(host.leases.asked) >= 3, timeout=10, interval=0.005,
                       what="three sweeps asking for the leases")
            assert shipping.get_shipment(left_waiting.id).courier_id is None
    finally:
        stop.set()
        loop.join()
    assert set(host.leases.asked) == {"orders-to-shipping"}
