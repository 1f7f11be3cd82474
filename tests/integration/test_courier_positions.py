"""The position path on the real PostgreSQL and RabbitMQ: group-committed reports, their tracks and latest,
their announcements, the worker's checkpointer and courier watch, retention, and rebuilds leaving it alone."""

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.courier_positions import PostgresPositionStore
from adapters.database import Database
from adapters.inprocess_broker import InProcessBroker
from adapters.messaging import Message, MessageBroker
from adapters.position_publisher import BINDING_KEY, BrokerPositionPublisher
from adapters.rebuild_in_place import rebuild_in_place
from adapters.settings import Settings
from adapters.supervisor import Loop
from commands.courier_tracking import CourierTracking
from commands.shipping import Shipping
from composition.contexts import runner_env
from composition.migration import migrate
from composition.write_side import open_position_store
from domain.identity import Actor, Role
from domain.positions import PositionReport
from domain.shipping import Courier, Shipment
from domain.values import DeliveryAddress
from projections.models import ALL_MODELS
from scripts import worker
from scripts.rebuild import REBUILD_SOURCES
from tests.conftest import make_settings
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually

HOME = DeliveryAddress("Jl. Jaksa 5", -6.186, 106.83)
STEP = 0.0001
"""About 11 m north: a courier's step in a second."""


@dataclass
class Path:
    shipping: Shipping
    store: PostgresPositionStore
    tracking: CourierTracking
    database: Database

    def courier(self, name: str = "Budi", lat: float = -6.2, lng: float = 106.8) -> Courier:
        return self.shipping.register_courier(name, lat, lng)[0]

    def ship(self) -> Shipment:
        order_id = uuid4()
        self.shipping.save(*self.shipping.ship_order(order_id, "alice", HOME))
        shipment = self.shipping.find_shipment_for(order_id)
        assert shipment is not None
        return shipment

    def report(self, courier: Courier, *ages: float, lat: float = -6.2) -> int:
        """Points north from `lat`, one step per second of their time, `ages` seconds ago."""
        now = datetime.now(UTC)
        reports = [PositionReport(lat + STEP * -age, 106.8, now - timedelta(seconds=age)) for age in ages]
        return asyncio.run(self.tracking.report(Actor(Role.COURIER, str(courier.id)), courier.id, reports)).accepted

    def rows(self, statement: str, *parameters: Any) -> list[tuple[Any, ...]]:
        with self.database.connect() as connection:
            return connection.execute(statement, parameters).fetchall()


@pytest.fixture
def migrated(database: Database) -> Database:
    migrate(database)
    return database


def path_on(database: Database, broker: MessageBroker) -> Iterator[Path]:
    with closing(Shipping(env=runner_env(database))) as shipping:
        store = open_position_store(shipping)
        try:
            yield Path(shipping, store, CourierTracking(store, BrokerPositionPublisher(broker),
                                                        shipping.get_shipment), database)
        finally:
            store.close()


@pytest.fixture
def path(migrated: Database) -> Iterator[Path]:
    broker = InProcessBroker()
    try:
        yield from path_on(migrated, broker)
    finally:
        broker.close()


def test_a_batch_with_duplicates_and_late_points_gives_the_track_and_the_latest(path: Path) -> None:
    courier = path.courier()
    shipment = path.ship()
    path.report(courier, 5)

    accepted = path.report(courier, 3, 9, 1, 3, 7, 1)

    assert accepted == 4  # 3, 9, 1, 7: the second 3 and 1 were duplicates
    track = path.rows("SELECT lat FROM tracking.shipment_tracks WHERE shipment_id = %s ORDER BY at", shipment.id)
    assert [round(lat, 6) for (lat,) in track] == [round(-6.2 - STEP * age, 6) for age in (9, 7, 5, 3, 1)]
    ((lat, shipment_id, order_id, eta, at),) = path.rows(
        "SELECT lat, shipment_id, order_id, eta, at FROM tracking.courier_positions WHERE courier_id = %s",
        courier.id)
    assert round(lat, 6) == round(-6.2 - STEP, 6)
    assert (shipment_id, order_id) == (shipment.id, shipment.order_id)
    assert eta > at


def test_a_late_report_leaves_the_latest_where_it_is(path: Path) -> None:
    courier = path.courier()
    path.report(courier, 1)

    path.report(courier, 20, 10)

    ((lat,),) = path.rows("SELECT lat FROM tracking.courier_positions WHERE courier_id = %s", courier.id)
    assert round(lat, 6) == round(-6.2 - STEP, 6)


def test_many_couriers_reporting_at_once_share_a_few_transactions(path: Path) -> None:
    couriers = [path.courier(f"C{index}", -6.2, 106.8) for index in range(60)]
    before = path.store.batches.stats.batches

    async def everyone() -> list[int]:
        now = datetime.now(UTC)
        return [outcome.accepted for outcome in await asyncio.gather(*(
            path.tracking.report(Actor(Role.ADMIN, "ops"), courier.id, [PositionReport(-6.2, 106.8, now)])
            for courier in couriers))]

    assert asyncio.run(everyone()) == [1] * 60
    assert path.rows("SELECT count(*) FROM tracking.courier_positions") == [(60,)]
    # Each report is a read and a write: one batch each would be 120.
    assert path.store.batches.stats.batches - before < 60


def test_a_report_is_announced_to_a_rabbitmq_subscriber(migrated: Database, rabbit: RabbitEnv) -> None:
    broker = rabbit.broker()
    received: list[Message] = []
    broker.subscribe([BINDING_KEY], received.append)
    broker.publish([Message("order.created", b"{}", "connect")])  # the publisher is connected from here on
    for path in path_on(migrated, broker):
        courier = path.courier()
        shipment = path.ship()

        path.report(courier, 2, 1)

        eventually(lambda: received, timeout=30, what="the position announced")
        (announced,) = received
        assert announced.routing_key == f"position.courier.{courier.id}"
        body = json.loads(announced.body)
        assert (body["courier_id"], body["shipment_id"], body["order_id"]) == (
            str(courier.id), str(shipment.id), str(shipment.order_id))
        assert round(body["lat"], 6) == round(-6.2 - STEP, 6)
        assert body["at"].endswith("Z")
        assert datetime.fromisoformat(body["eta"]) > datetime.fromisoformat(body["at"])
        assert body["speed_mps"] == pytest.approx(STEP * 111_195, rel=0.05)


class Partition0:
    """A follower host whose leases say this process holds partition 0 of every follower."""

    class Leases:
        def held(self, follower: str) -> dict[int, int]:
            return {0: 1}

    leases = Leases()


@pytest.fixture
def running() -> Iterator[Callable[[Loop], None]]:
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(loop: Loop) -> None:
        thread = threading.Thread(target=loop, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(30)


def loops(path: Path, settings: Settings) -> dict[str, Loop]:
    return worker.position_loops(Partition0(), path.shipping, path.store, "orders-to-shipping",  # type: ignore[arg-type]
                                 settings)


def checkpoints_of(path: Path, shipment_id: UUID) -> list[Any]:
    return [event for event in path.shipping.events.get(shipment_id) if type(event).__name__ == "RouteCheckpoint"]


def test_the_checkpointer_records_a_courier_s_route_at_most_once_per_interval(
    path: Path, migrated: Database, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
    running: Callable[[Loop], None],
) -> None:
    monkeypatch.setattr(worker, "CHECKPOINT_SWEEP_S", 0.05)
    settings = make_settings(migrated, tmp_path, LOGISTICS_CHECKPOINT_INTERVAL_S="1")
    courier = path.courier()
    shipment = path.ship()
    running(loops(path, settings)[worker.CHECKPOINTER])
    ages = iter(range(1000, 0, -1))

    def reported_until_three_checkpoints() -> bool:
        path.report(courier, next(ages) / 10, lat=-6.3)  # a step every tenth of a second, all the while
        return len(checkpoints_of(path, shipment.id)) >= 3

    eventually(reported_until_three_checkpoints, timeout=60, interval=0.1, what="three checkpoints")

    recorded = checkpoints_of(path, shipment.id)
    gaps = [(later.timestamp - earlier.timestamp).total_seconds() for earlier, later in pairwise(recorded)]
    assert min(gaps) >= 1.0, gaps
    assert all(event.eta is not None for event in recorded)
    assert recorded[0].causation_id == "tracking:checkpointer"


def test_the_courier_watch_hands_a_silent_courier_s_shipment_to_another(
    path: Path, migrated: Database, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
    running: Callable[[Loop], None],
) -> None:
    monkeypatch.setattr(worker, "COURIER_WATCH_S", 0.05)
    settings = make_settings(migrated, tmp_path, LOGISTICS_COURIER_SILENCE_S="2")
    silent = path.courier("Silent", HOME.lat, HOME.lng)
    taken = path.ship()
    talkative = path.courier("Talkative", HOME.lat, HOME.lng)
    kept = path.ship()
    other = path.courier("Other", -6.3, 106.9)
    assert (path.shipping.get_shipment(taken.id).courier_id, path.shipping.get_shipment(kept.id).courier_id) == (
        silent.id, talkative.id)
    path.report(silent, 0)  # then nothing more
    running(loops(path, settings)[worker.COURIER_WATCH])
    ages = iter(range(1000, 0, -1))

    def talking_until_the_silent_one_lost_its_shipment() -> bool:
        path.report(talkative, next(ages) / 10, lat=HOME.lat)
        return path.shipping.get_shipment(taken.id).courier_id != silent.id

    eventually(talking_until_the_silent_one_lost_its_shipment, timeout=60, interval=0.1,
               what="the silent courier's shipment handed over")

    events = [(type(event).__name__, getattr(event, "courier_id", None), getattr(event, "reason", None))
              for event in path.shipping.events.get(taken.id)]
    handed_back = events.index(("CourierUnassigned", silent.id, "silent"))
    assert events[handed_back + 1] == ("CourierAssigned", other.id, None)
    assert not path.shipping.get_courier(silent.id).on_duty
    assert path.shipping.get_shipment(kept.id).courier_id == talkative.id


def test_tracks_are_forgotten_after_their_retention(path: Path) -> None:
    courier = path.courier()
    shipment = path.ship()
    path.report(courier, 80 * 3600, 79 * 3600)  # a phone that kept them for days
    path.report(courier, 1)

    assert path.store.forget_tracks_older_than(72) == 2

    assert path.rows("SELECT count(*) FROM tracking.shipment_tracks WHERE shipment_id = %s", shipment.id) == [(1,)]


def test_a_rebuild_of_the_read_models_leaves_the_tracks_alone(path: Path, migrated: Database) -> None:
    courier = path.courier()
    shipment = path.ship()
    path.report(courier, 3, 2, 1)
    before = path.rows("SELECT at, lat, lng FROM tracking.shipment_tracks WHERE shipment_id = %s ORDER BY at",
                       shipment.id)

    rebuild_in_place(migrated, REBUILD_SOURCES, list(ALL_MODELS.values()))

    assert len(before) == 3
    assert path.rows("SELECT at, lat, lng FROM tracking.shipment_tracks WHERE shipment_id = %s ORDER BY at",
                     shipment.id) == before
    assert path.rows("SELECT count(*) FROM tracking.courier_positions") == [(1,)]
