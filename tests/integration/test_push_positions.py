"""Couriers' positions pushed by the query app, fed as the position path feeds it: messages on the broker.

Real PostgreSQL (the orders read model, projected from real events, decides who may follow an order), and both
brokers: the in-process one of `logistics run` and the real RabbitMQ (an exchange of this test's own). Each
position is published as the position path publishes it, `position.courier.<id>` with its JSON body.

A live frame is sent as it comes and never caught up, so a test keeps publishing until its first frame arrives
(following starts a moment after the snapshot is sent); negative checks then rely on per-connection order: a
sentinel published last is awaited, and nothing that was not due came before it.
"""

import json
import queue
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.projection import ProjectionRunner
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

from adapters.database import Database
from adapters.inprocess_broker import InProcessBroker
from adapters.messaging import Message, MessageBroker
from adapters.postgres_read_models import read_models_view
from adapters.settings import Settings
from adapters.tokens import TokenIssuer
from commands.orders import Orders
from composition.contexts import runner_env
from composition.migration import migrate
from composition.read_side import open_read_side
from composition.write_side import build_write_side
from domain.values import DeliveryAddress, OrderLine
from projections.models.orders import ORDERS
from projections.projection import ReadModelsProjection
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually
from web.baseline import BaselinePlugin
from web.query_api.push import PushPlugin

ALICE_COURIER, BOB_COURIER, FREE_COURIER = (str(uuid4()) for _ in range(3))
T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)


@dataclass(frozen=True)
class PlacedOrders:
    alice: str
    bob: str


@pytest.fixture
def orders(database: Database, settings: Settings) -> PlacedOrders:
    """Two confirmed orders, alice's and bob's, in the orders read model."""
    migrate(database)
    with ExitStack() as stack:
        write = build_write_side(database, settings, stack)
        stock, _ = write.inventory.create_product("PUSH-1", "Push", Decimal("3.00"), 10)
        placed = []
        for customer in ("alice", "bob"):
            order, _ = write.orders.place_order(customer, [OrderLine(stock.id, 1, stock.price)], "tok_ok",
                                                DeliveryAddress("Jl. Test", -6.2, 106.8))
            order.record_stock_reserved()
            order.record_payment_authorized()
            position = write.orders.save(order)[-1].notification.id
            placed.append(str(order.id))
        with ProjectionRunner(application_class=Orders, projection_class=ReadModelsProjection,
                              view_class=read_models_view(((ORDERS, 1),), publishing=True),
                              env=runner_env(database)) as runner:
            runner.wait(position, timeout=30)
    return PlacedOrders(alice=placed[0], bob=placed[1])


@pytest.fixture(params=["inprocess", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[MessageBroker]:
    if request.param == "inprocess":
        in_process = InProcessBroker()
        yield in_process
        in_process.close()
    else:
        rabbit = RabbitEnv(request.getfixturevalue("amqp_url"))
        try:
            rabbitmq = rabbit.broker()
            rabbitmq.declare_topology()
            yield rabbitmq
        finally:
            rabbit.cleanup()


@pytest.fixture
def client(settings: Settings, database: Database, broker: MessageBroker,
           orders: PlacedOrders) -> Iterator[TestClient[Any]]:
    with open_read_side(settings, database, broker=broker) as read:
        app = Litestar(plugins=[PushPlugin(read), BaselinePlugin(read.settings.secret)])
        with TestClient(app=app) as test_client:
            yield test_client


class Positions:
    """Publishes positions as the position path does, each a second after the one before."""

    def __init__(self, broker: MessageBroker) -> None:
        self._broker = broker
        self._seconds = count(1)

    def publish(self, courier_id: str, order_id: str | None, lat: float = -6.2) -> str:
        at = (T0 + timedelta(seconds=next(self._seconds))).isoformat()
        eta = (T0 + timedelta(minutes=30)).isoformat() if order_id else None
        body = {"courier_id": courier_id, "shipment_id": None, "order_id": order_id, "lat": lat, "lng": 106.8,
                "at": at, "eta": eta, "speed_mps": 5.0}
        # The position path publishes fire-and-forget; a confirmed publish is the same message on the wire.
        self._broker.publish([Message(f"position.courier.{courier_id}", json.dumps(body).encode(), str(uuid4()))])
        return at


def token(client: TestClient[Any], role: str, subject: str) -> str:
    app = client.app
    assert isinstance(app, Litestar)
    secret = next(plugin for plugin in app.plugins.init if isinstance(plugin, PushPlugin)).context.secret
    return TokenIssuer(secret).issue(role, subject)


def first_frame(socket: WebSocketTestSession, publish: Callable[[], object], kind: str) -> dict[str, Any]:
    """Publish until a frame of `kind` arrives (the connection follows a moment after it is told it does)."""
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        publish()
        try:
            frame = socket.receive_json(timeout=0.3)
        except queue.Empty:  # the test client's receive timed out
            return False
        found.append(frame)
        return bool(frame.get("type") == kind)

    eventually(arrived, timeout=30, interval=0.0, what=f"a {kind} frame")
    return found[-1]


def frames_until(socket: WebSocketTestSession, sentinel_at: str) -> list[dict[str, Any]]:
    received = []
    while True:
        frame = socket.receive_json(timeout=10)
        received.append(frame)
        if frame.get("at") == sentinel_at:
            return received


def test_a_customer_sees_the_courier_of_their_own_order_only(
        client: TestClient[Any], broker: MessageBroker, orders: PlacedOrders) -> None:
    positions = Positions(broker)
    alice = token(client, "customer", "alice")
    with client.websocket_connect(f"/ws/orders/{orders.alice}?token={alice}") as socket:
        assert socket.receive_json(timeout=10)["type"] == "view.order.snapshot"

        frame = first_frame(socket, lambda: positions.publish(ALICE_COURIER, orders.alice), "position")

        assert set(frame) == {"type", "courier_id", "order_id", "lat", "lng", "at", "eta"}
        assert (frame["courier_id"], frame["order_id"], frame["lng"]) == (ALICE_COURIER, orders.alice, 106.8)
        assert frame["eta"] == (T0 + timedelta(minutes=30)).isoformat()
        positions.publish(BOB_COURIER, orders.bob)  # bob's order: not alice's business
        positions.publish(FREE_COURIER, None)  # a free courier: operators only
        sentinel = positions.publish(ALICE_COURIER, orders.alice, lat=-6.21)
        later = frames_until(socket, sentinel)
        assert {(item["courier_id"], item["order_id"]) for item in later} == {(ALICE_COURIER, orders.alice)}
        assert later[-1]["lat"] == -6.21


def test_operators_get_the_fleet_coalesced_and_customers_are_refused_it(
        client: TestClient[Any], broker: MessageBroker, orders: PlacedOrders) -> None:
    positions = Positions(broker)
    admin = token(client, "admin", "ops")
    with client.websocket_connect(f"/ws/fleet?token={admin}") as fleet:
        assert fleet.receive_json(timeout=10) == {"type": "subscribed", "subscription": "fleet"}
        for courier_id, order_id in ((ALICE_COURIER, orders.alice), (BOB_COURIER, orders.bob),
                                     (FREE_COURIER, None)):
            positions.publish(courier_id, order_id)
        moved: dict[str, dict[str, Any]] = {}

        def everyone_moved() -> bool:
            frame = fleet.receive_json(timeout=10)
            assert frame["type"] == "fleet"
            moved.update({item["courier_id"]: item for item in frame["positions"]})
            return len(moved) == 3

        eventually(everyone_moved, timeout=30, interval=0.0, what="a fleet frame of each courier")
        assert moved[FREE_COURIER]["order_id"] is None
        assert moved[BOB_COURIER]["order_id"] == orders.bob

    alice = token(client, "customer", "alice")
    with client.websocket_connect(f"/ws/fleet?token={alice}") as refused, pytest.raises(WebSocketDisconnect) as closed:
        refused.receive_text(timeout=10)
    assert closed.value.code == 4403
    with client.websocket_connect(f"/ws?token={alice}") as socket:
        socket.send_json({"subscribe": f"courier:{ALICE_COURIER}"})
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text(timeout=10)
    assert closed.value.code == 4403


def test_an_operator_follows_one_courier_on_the_multiplexed_socket(
        client: TestClient[Any], broker: MessageBroker) -> None:
    positions = Positions(broker)
    admin = token(client, "admin", "ops")
    with client.websocket_connect(f"/ws?token={admin}") as socket:
        socket.send_json({"subscribe": f"courier:{FREE_COURIER.upper()}"})
        assert socket.receive_json(timeout=10) == {"type": "subscribed", "subscription": f"courier:{FREE_COURIER}"}
        positions.publish(BOB_COURIER, None)
        sentinel = positions.publish(FREE_COURIER, None)
        assert [frame["courier_id"] for frame in frames_until(socket, sentinel)] == [FREE_COURIER]
        socket.send_json({"subscribe": "courier:not-an-id"})
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text(timeout=10)
        assert closed.value.code == 4400


def test_a_malformed_position_message_is_dropped_and_the_feed_goes_on(
        client: TestClient[Any], broker: MessageBroker) -> None:
    positions = Positions(broker)
    admin = token(client, "admin", "ops")
    with client.websocket_connect(f"/ws/fleet?token={admin}") as fleet:
        assert fleet.receive_json(timeout=10)["type"] == "subscribed"
        broker.publish([Message(f"position.courier.{FREE_COURIER}", b"{not json", "bad"),
                        Message(f"position.courier.{FREE_COURIER}", json.dumps({"courier_id": str(UUID(int=1))}
                                                                                ).encode(), "bad-2")])
        sentinel = positions.publish(FREE_COURIER, None)
        frame = fleet.receive_json(timeout=10)
        assert [item["at"] for item in frame["positions"]] == [sentinel]
