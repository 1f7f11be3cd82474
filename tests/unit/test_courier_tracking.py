"""The position path in memory: reports checked, stored and announced; checkpoints and silent couriers turned
into events. The two ports are fakes kept in dictionaries; Shipping is the real application on the library's
in-memory persistence."""

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from commands.courier_tracking import CourierTracking, reassign_silent_couriers, record_due_checkpoints
from commands.errors import Forbidden, NotFound
from commands.ports import (
    Checkpoint,
    CourierPosition,
    CourierRoute,
    HeldShipment,
    PositionWrite,
    SilentCourier,
)
from commands.shipping import Shipping
from domain.errors import InvalidValue
from domain.identity import Actor, Role
from domain.positions import LatestPosition, PositionReport
from domain.shipping import Courier, Shipment, ShipmentStatus
from domain.values import DeliveryAddress

START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
HOME = DeliveryAddress("Jl. Jaksa 5", -6.186, 106.83)
ADMIN = Actor(Role.ADMIN, "ops")


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class StoredCourier:
    latest: LatestPosition
    shipment: HeldShipment | None
    eta: datetime | None
    reported_at: datetime
    checkpoint: tuple[datetime, float, float] | None = None


@dataclass
class MemoryPositionStore:
    """The PositionStore port in dictionaries; what the dispatch index would say comes from the aggregates."""

    shipping: Shipping
    clock: Clock
    couriers: dict[UUID, StoredCourier] = field(default_factory=dict)
    tracks: dict[UUID, dict[datetime, tuple[float, float]]] = field(default_factory=dict)
    in_transit: set[tuple[UUID, UUID]] = field(default_factory=set)
    assigned_at: dict[UUID, datetime] = field(default_factory=dict)

    async def route_of(self, courier_id: UUID) -> CourierRoute | None:
        try:
            courier = self.shipping.get_courier(courier_id)
        except NotFound:
            return None
        stored = self.couriers.get(courier_id)
        return CourierRoute(courier_id, stored.latest if stored else None, courier.shipment_id,
                            stored.shipment if stored else None)

    async def save(self, write: PositionWrite) -> None:
        if write.shipment is not None:
            track = self.tracks.setdefault(write.shipment.shipment_id, {})
            for point in write.track:
                track.setdefault(point.at, (point.lat, point.lng))
        stored = self.couriers.get(write.courier_id)
        if stored is not None:
            stored.reported_at = self.clock.now
        if write.latest is not None and (stored is None or stored.latest.at < write.latest.at):
            self.couriers[write.courier_id] = StoredCourier(write.latest, write.shipment, write.eta, self.clock.now,
                                                            stored.checkpoint if stored else None)

    def due_checkpoints(self, interval_s: float, limit: int) -> list[Checkpoint]:
        due = []
        for courier_id, stored in self.couriers.items():
            last = stored.checkpoint
            moved = last is None or (last[1], last[2]) != (stored.latest.lat, stored.latest.lng)
            if moved and (last is None or last[0] <= self.clock.now - timedelta(seconds=interval_s)):
                due.append(Checkpoint(courier_id, stored.latest.lat, stored.latest.lng, stored.eta))
        return due[:limit]

    def mark_checkpointed(self, checkpoints: Sequence[Checkpoint]) -> None:
        for checkpoint in checkpoints:
            self.couriers[checkpoint.courier_id].checkpoint = (self.clock.now, checkpoint.lat, checkpoint.lng)

    def silent_couriers(self, silence_s: float, limit: int) -> list[SilentCourier]:
        silent = []
        for courier_id, assigned_at in self.assigned_at.items():
            courier = self.shipping.get_courier(courier_id)
            if courier.shipment_id is None or (courier_id, courier.shipment_id) in self.in_transit:
                continue
            stored = self.couriers.get(courier_id)
            heard = max(assigned_at, stored.reported_at) if stored else assigned_at
            if heard < self.clock.now - timedelta(seconds=silence_s):
                silent.append(SilentCourier(courier_id, courier.shipment_id))
        return silent[:limit]

    def note_in_transit(self, courier_id: UUID, shipment_id: UUID) -> None:
        self.in_transit.add((courier_id, shipment_id))

    def forget_tracks_older_than(self, hours: float) -> int:
        return 0


@dataclass
class Announcements:
    published: list[CourierPosition] = field(default_factory=list)

    def publish(self, position: CourierPosition) -> None:
        self.published.append(position)


@pytest.fixture
def shipping() -> Iterator[Shipping]:
    app = Shipping(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


@dataclass
class World:
    shipping: Shipping
    clock: Clock
    store: MemoryPositionStore
    announced: Announcements
    tracking: CourierTracking
    lookups: list[UUID]

    def courier(self, name: str = "Budi", lat: float = -6.2, lng: float = 106.8) -> Courier:
        courier, _ = self.shipping.register_courier(name, lat, lng)
        return courier

    def ship(self) -> Shipment:
        order_id = uuid4()
        self.shipping.save(*self.shipping.ship_order(order_id, "alice", HOME))
        shipment = self.shipping.find_shipment_for(order_id)
        assert shipment is not None
        assert shipment.courier_id is not None
        self.store.assigned_at[shipment.courier_id] = self.clock.now
        return shipment

    def report(self, courier: Courier, *points: tuple[float, float, float], actor: Actor | None = None) -> int:
        """Points (lat, lng, seconds before now) reported by the courier itself unless `actor` says otherwise."""
        reports = [PositionReport(lat, lng, self.clock.now - timedelta(seconds=ago)) for lat, lng, ago in points]
        who = actor or Actor(Role.COURIER, str(courier.id))
        return asyncio.run(self.tracking.report(who, courier.id, reports)).accepted


@pytest.fixture
def world(shipping: Shipping) -> World:
    clock = Clock()
    store = MemoryPositionStore(shipping, clock)
    announced = Announcements()
    lookups: list[UUID] = []

    def look_up(shipment_id: UUID) -> Shipment:
        lookups.append(shipment_id)
        return shipping.get_shipment(shipment_id)

    return World(shipping, clock, store, announced, CourierTracking(store, announced, look_up, clock=clock), lookups)


class TestReports:
    def test_a_carrying_courier_s_report_lands_on_its_shipment_s_track_with_an_eta(self, world: World) -> None:
        courier = world.courier()
        shipment = world.ship()

        accepted = world.report(courier, (-6.1900, 106.83, 20), (-6.1890, 106.83, 10), (-6.1895, 106.83, 15))

        assert accepted == 3
        assert list(world.store.tracks[shipment.id]) == [world.clock.now - timedelta(seconds=ago)
                                                         for ago in (20, 15, 10)]
        (announced,) = world.announced.published
        assert (announced.courier_id, announced.shipment_id, announced.order_id) == (
            courier.id, shipment.id, shipment.order_id)
        assert (announced.lat, announced.at) == (-6.1890, world.clock.now - timedelta(seconds=10))
        assert announced.eta is not None
        assert announced.eta > announced.at
        assert world.store.couriers[courier.id].eta == announced.eta

    def test_a_free_courier_s_report_moves_it_but_draws_no_track(self, world: World) -> None:
        courier = world.courier()

        assert world.report(courier, (-6.21, 106.81, 0)) == 1

        assert world.store.tracks == {}
        assert world.store.couriers[courier.id].latest.lat == -6.21
        (announced,) = world.announced.published
        assert (announced.shipment_id, announced.order_id, announced.eta) == (None, None, None)

    def test_late_points_join_the_track_and_announce_nothing(self, world: World) -> None:
        courier = world.courier()
        shipment = world.ship()
        world.report(courier, (-6.19, 106.83, 0))
        world.announced.published.clear()

        assert world.report(courier, (-6.1901, 106.83, 30), (-6.1902, 106.83, 20)) == 2

        assert len(world.store.tracks[shipment.id]) == 3
        assert world.store.couriers[courier.id].latest.at == world.clock.now
        assert world.announced.published == []

    def test_a_shipment_is_looked_up_once_however_often_its_courier_reports(self, world: World) -> None:
        courier = world.courier()
        shipment = world.ship()
        for _ in range(3):
            world.clock.advance(1)
            world.report(courier, (-6.19, 106.83, 0))

        assert world.lookups == [shipment.id]

    def test_a_refused_point_keeps_the_whole_report_out(self, world: World) -> None:
        courier = world.courier()

        with pytest.raises(InvalidValue) as refused:
            world.report(courier, (-6.19, 106.83, 2), (-6.6, 106.8, 1))

        assert refused.value.field == "positions[1]"
        assert (world.store.couriers, world.announced.published) == ({}, [])

    def test_a_courier_reports_as_itself_only_and_an_operator_for_anyone(self, world: World) -> None:
        courier, other = world.courier("A"), world.courier("B")
        point = (-6.19, 106.83, 0)

        with pytest.raises(Forbidden):
            world.report(courier, point, actor=Actor(Role.COURIER, str(other.id)))
        with pytest.raises(Forbidden):
            world.report(courier, point, actor=Actor(Role.CUSTOMER, str(courier.id)))
        assert world.report(courier, point, actor=ADMIN) == 1

    def test_an_unknown_courier_is_not_found(self, world: World) -> None:
        unknown = uuid4()
        reports = [PositionReport(-6.19, 106.83, world.clock.now)]

        with pytest.raises(NotFound):
            asyncio.run(world.tracking.report(Actor(Role.COURIER, str(unknown)), unknown, reports))


class TestCheckpoints:
    def test_a_carrying_courier_s_route_is_recorded_at_most_once_per_interval(self, world: World) -> None:
        courier = world.courier()
        shipment = world.ship()
        world.report(courier, (-6.19, 106.83, 0))

        assert record_due_checkpoints(world.store, world.shipping, interval_s=30) == 1
        world.clock.advance(10)
        world.report(courier, (-6.1905, 106.83, 0))
        assert record_due_checkpoints(world.store, world.shipping, interval_s=30) == 0
        world.clock.advance(25)
        assert record_due_checkpoints(world.store, world.shipping, interval_s=30) == 1

        checkpoints = [event for event in world.shipping.events.get(shipment.id)
                       if type(event).__name__ == "RouteCheckpoint"]
        assert [(event.lat, event.eta is not None) for event in checkpoints] == [  # type: ignore[attr-defined]
            (-6.19, True), (-6.1905, True)]

    def test_a_courier_standing_still_is_not_recorded_again(self, world: World) -> None:
        courier = world.courier()
        world.report(courier, (-6.19, 106.83, 0))
        assert record_due_checkpoints(world.store, world.shipping, interval_s=30) == 1

        world.clock.advance(60)
        world.report(courier, (-6.19, 106.83, 0))

        assert record_due_checkpoints(world.store, world.shipping, interval_s=30) == 0

    def test_a_free_courier_s_checkpoint_moves_it_for_dispatching(self, world: World) -> None:
        courier = world.courier()
        world.report(courier, (-6.19, 106.83, 0))

        record_due_checkpoints(world.store, world.shipping, interval_s=30)

        assert world.shipping.get_courier(courier.id).position.lat == -6.19


class TestSilentCouriers:
    def test_a_silent_courier_s_shipment_goes_to_another_and_it_goes_off_duty(self, world: World) -> None:
        silent = world.courier("Silent", -6.186, 106.83)
        shipment = world.ship()
        other = world.courier("Other", -6.3, 106.9)
        world.clock.advance(60)
        world.report(silent, (-6.186, 106.83, 0))

        world.clock.advance(100)
        assert reassign_silent_couriers(world.store, world.shipping, silence_s=120) == 0
        world.clock.advance(30)
        assert reassign_silent_couriers(world.store, world.shipping, silence_s=120) == 1

        assert world.shipping.get_shipment(shipment.id).courier_id == other.id
        assert not world.shipping.get_courier(silent.id).on_duty

    def test_a_courier_silent_from_the_start_is_reassigned_too(self, world: World) -> None:
        world.courier("Silent", -6.186, 106.83)
        shipment = world.ship()
        other = world.courier("Other", -6.3, 106.9)

        world.clock.advance(121)

        assert reassign_silent_couriers(world.store, world.shipping, silence_s=120) == 1
        assert world.shipping.get_shipment(shipment.id).courier_id == other.id

    def test_a_silent_courier_with_the_goods_keeps_them(self, world: World) -> None:
        silent = world.courier("Silent", -6.186, 106.83)
        shipment = world.ship()
        world.shipping.pick_up(ADMIN, shipment.id)
        world.courier("Other", -6.3, 106.9)
        world.clock.advance(121)

        assert reassign_silent_couriers(world.store, world.shipping, silence_s=120) == 0

        assert world.shipping.get_shipment(shipment.id).status is ShipmentStatus.IN_TRANSIT
        assert world.store.in_transit == {(silent.id, shipment.id)}
        assert world.store.silent_couriers(120, 10) == []

