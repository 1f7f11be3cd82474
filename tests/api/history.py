"""A real history on a fresh database, for the query API's tests: what a day of the platform leaves behind.

Everything is done through the command API. The saga's policies and the read models are then driven in this
thread, exactly as their runners drive them (each follower takes its upstream's notifications after its tracked
position and processes them with their tracking), until no follower has anything left: so the history is the
same on every run, with no thread timing in it and few database connections.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, Tracking, TrackingRecorder
from eventsourcing.utils import Environment
from litestar.testing import TestClient

from adapters.database import Database, drop_database
from adapters.payment_gateway import SimulatedPaymentGateway
from adapters.postgres_read_models import read_models_view
from adapters.read_generations import live_generations
from adapters.settings import Settings
from adapters.tokens import TokenIssuer
from commands.courier_tracking import record_due_checkpoints
from commands.ports import Checkpoint
from commands.saga_steps import SAGA_EDGES, PaymentsSagaStep, SagaStep
from composition.contexts import runner_env
from composition.read_side import ReadSide, open_read_side
from composition.write_side import Platform, open_platform
from projections.models import ALL_MODELS
from projections.projection import ReadModelsProjection
from tests.conftest import fresh_database, make_settings
from web.command_api.app import create_command_api

Headers = dict[str, str]

BATCH = 500
LATE_ETA = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)


@dataclass(frozen=True)
class Courier:
    id: str
    token: str

    @property
    def headers(self) -> Headers:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class History:
    """Who did what. The story, in order:

    products TEH-1, KOPI-1 (one in stock), NASI-1 (discontinued), ES-TEH, ROTI-1 (repriced, restocked),
    MIE-1, ARA-100 ("100% Arabica"); couriers Ani (near) and Budi (far away);
    `o1` alice, 2 x TEH-1: Ani picks it up, reports two positions, delivers it, alice confirms receipt;
    `o4` bob, ES-TEH: Budi picks it up (Ani is busy), one position, delivered and received;
    `o5` carol, MIE-1: no courier is free, carol cancels it while it waits;
    `o6` dave, ROTI-1: waits, then Ani takes it when she is free again and picks it up: in transit at the end,
        her route's last checkpoint estimating an arrival two hours away (past the promise: a late delivery);
    `o2` alice, TEH-1 paid with a declined card; `o3` bob, 2 x KOPI-1 of which there is one: both cancelled.
    """

    settings: Settings
    database: Database
    read: ReadSide
    products: dict[str, str] = field(default_factory=dict)
    """sku -> product id"""
    couriers: dict[str, Courier] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)
    shipments: dict[str, str] = field(default_factory=dict)
    """order key (`o1`) -> shipment id, for the orders that got a shipment"""

    def bearer(self, role: str, subject: str) -> Headers:
        return {"Authorization": f"Bearer {TokenIssuer(self.settings.secret).issue(role, subject)}"}

    @property
    def admin(self) -> Headers:
        return self.bearer("admin", "operator-1")

    def customer(self, name: str) -> Headers:
        return self.bearer("customer", name)


@dataclass(frozen=True)
class Follower:
    """One follower of one upstream log: a saga policy or the read models."""

    upstream: Application[UUID]
    tracked: TrackingRecorder
    process: Callable[[Any, Tracking], None]
    topics: Sequence[str]

    def catch_up(self) -> int:
        """Process what the upstream recorded after the tracked position; the number of events processed."""
        position = self.tracked.max_tracking_id(self.upstream.name) or 0
        notifications = self.upstream.recorder.select_notifications(
            start=position, limit=BATCH, topics=self.topics, inclusive_of_start=False)
        for notification in notifications:
            event = self.upstream.mapper.to_domain_event(notification)
            self.process(event, Tracking(self.upstream.name, notification.id))
        return len(notifications)


def followers(platform: Platform, stack: ExitStack) -> list[Follower]:
    """The saga's edges and the read models of every context, as the worker and the projector set them up."""
    env = runner_env(platform.database)
    write = platform.write
    upstreams: dict[str, Application[UUID]] = {
        app.name: app for app in (write.orders, write.inventory, write.payments, write.shipping)}
    policies: dict[type[SagaStep], SagaStep] = {}
    found = []
    for upstream_class, policy_class in SAGA_EDGES:
        if policy_class not in policies:
            # The payment step needs a gateway, like the worker's: the others take none.
            extra: dict[str, Any] = {"gateway": SimulatedPaymentGateway()} if policy_class is PaymentsSagaStep else {}
            policies[policy_class] = policy_class(env=env, **extra)
            stack.callback(policies[policy_class].close)
        policy = policies[policy_class]
        found.append(Follower(upstreams[upstream_class.name], policy.recorder, policy.process_event, policy.topics))
    for name, upstream in upstreams.items():
        pairs = live_generations(platform.database, [model for model in ALL_MODELS.values() if name in model.upstreams])
        factory = InfrastructureFactory[TrackingRecorder].construct(Environment(ReadModelsProjection.name, env))
        stack.callback(factory.close)
        view = factory.tracking_recorder(read_models_view(pairs, publishing=True))
        projection = ReadModelsProjection(view=view)  # type: ignore[arg-type]
        found.append(Follower(upstream, view, projection.process_event, ()))
    return found


class Story:
    """The command API's client, and the followers caught up after each step."""

    def __init__(self, history: History, client: TestClient[Any], following: list[Follower]) -> None:
        self.history = history
        self.client = client
        self.following = following
        self.started = datetime.now(UTC)
        self.moves = 0

    def settle(self) -> None:
        """Until every follower is at its upstream's head: what the saga and the projector would get to."""
        while sum(follower.catch_up() for follower in self.following):
            pass

    def post(self, path: str, headers: Headers, json: Any = None, expect: int = 202) -> dict[str, Any]:
        response = self.client.post(path, headers=headers, json=json)
        assert response.status_code == expect, f"{path}: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json() if response.content else {}
        return body

    def product(self, sku: str, name: str, price: str, stock: int) -> None:
        body = self.post("/api/products", self.history.admin, expect=201,
                         json={"sku": sku, "name": name, "price": price, "initial_stock": stock})
        self.history.products[sku] = body["id"]

    def courier(self, name: str, lat: float, lng: float) -> Courier:
        body = self.post("/api/couriers", self.history.admin, {"name": name, "lat": lat, "lng": lng}, expect=201)
        courier = Courier(body["id"], body["token"])
        self.history.couriers[name] = courier
        return courier

    def order(self, key: str, customer: str, sku: str, quantity: int = 1, token: str = "tok_ok") -> str:
        body = self.post("/api/orders", self.history.customer(customer), {
            "items": [{"product_id": self.history.products[sku], "quantity": quantity}],
            "payment": {"token": token},
            "delivery": {"address": f"Jl. {customer.title()} 1, Jakarta", "lat": -6.2, "lng": 106.8},
        })
        self.history.orders[key] = body["order_id"]
        self.settle()
        return str(body["order_id"])

    def shipment_of(self, key: str, platform: Platform) -> str:
        shipment = platform.write.shipping.find_shipment_for(UUID(self.history.orders[key]))
        assert shipment is not None, f"order {key} has no shipment"
        self.history.shipments[key] = str(shipment.id)
        return str(shipment.id)

    def pick_up(self, key: str, courier: Courier) -> None:
        """The assigned courier has the goods (where it last reported): the saga takes the order in transit."""
        self.post(f"/api/shipments/{self.history.shipments[key]}/picked-up", courier.headers)
        self.settle()

    def move(self, courier: Courier, lat: float, lng: float, platform: Platform) -> None:
        """A position report, minutes after the story's last (so that no move is an impossible jump), recorded
        at once as the route's checkpoint, as the worker's checkpointer would once the interval is over."""
        self.moves += 1
        at = self.started - timedelta(hours=1) + timedelta(minutes=5 * self.moves)
        body = {"positions": [{"lat": lat, "lng": lng, "at": at.isoformat()}]}
        self.post(f"/api/couriers/{courier.id}/location", courier.headers, body)
        record_due_checkpoints(platform.tracking.store, platform.write.shipping, interval_s=0)

    def deliver_and_receive(self, key: str, courier: Courier, customer: str) -> None:
        self.post(f"/api/shipments/{self.history.shipments[key]}/delivered", courier.headers)
        self.settle()
        self.post(f"/api/orders/{self.history.orders[key]}/receipt", self.history.customer(customer))
        self.settle()


def tell_the_story(story: Story, platform: Platform) -> None:
    admin = story.history.admin
    products = story.history.products
    story.product("TEH-1", "Teh Botol", "3.50", 50)
    story.product("KOPI-1", "Kopi Susu", "4.00", 1)
    story.product("NASI-1", "Nasi Goreng", "25.00", 20)
    story.product("ES-TEH", "Es Teh Manis", "2.00", 30)
    story.product("ROTI-1", "Roti Bakar", "12.00", 10)
    story.product("MIE-1", "Mie Ayam", "15.00", 10)
    story.product("ARA-100", "100% Arabica", "9.00", 5)
    ani = story.courier("Ani", -6.19, 106.82)
    budi = story.courier("Budi", -6.9, 107.6)
    story.settle()

    story.order("o1", "alice", "TEH-1", quantity=2)
    story.shipment_of("o1", platform)
    story.pick_up("o1", ani)
    story.order("o4", "bob", "ES-TEH")
    story.shipment_of("o4", platform)
    story.pick_up("o4", budi)
    story.order("o5", "carol", "MIE-1")
    story.shipment_of("o5", platform)
    story.post(f"/api/orders/{story.history.orders['o5']}/cancel", story.history.customer("carol"),
               {"reason": "changed my mind"})
    story.settle()
    story.order("o6", "dave", "ROTI-1")
    story.shipment_of("o6", platform)
    story.order("o2", "alice", "TEH-1", token="tok_decline")
    story.order("o3", "bob", "KOPI-1", quantity=2)

    story.move(ani, -6.195, 106.81, platform)
    story.move(ani, -6.199, 106.802, platform)
    story.settle()
    story.deliver_and_receive("o1", ani, "alice")
    story.pick_up("o6", ani)  # given to Ani by alice's receipt
    platform.write.shipping.record_checkpoints([Checkpoint(UUID(ani.id), -6.2, 106.81, LATE_ETA)])
    story.settle()
    story.move(budi, -6.5, 107.2, platform)
    story.settle()
    story.deliver_and_receive("o4", budi, "bob")

    assert story.client.delete(f"/api/products/{products['NASI-1']}", headers=admin).status_code == 204
    story.post(f"/api/products/{products['ROTI-1']}/restock", admin, {"quantity": 5, "reason": "delivery"})
    response = story.client.patch(f"/api/products/{products['ROTI-1']}", headers=admin, json={"price": "13.00"})
    assert response.status_code == 200, response.text
    story.settle()


@contextmanager
def recorded_history(server: Database, data_dir: Path) -> Iterator[History]:
    """The story told on a database of its own, then the query side opened over it; dropped afterwards."""
    database = fresh_database(server)
    try:
        settings = make_settings(database, data_dir)
        with ExitStack() as stack:
            platform = stack.enter_context(open_platform(settings, database))
            read = stack.enter_context(open_read_side(settings, database))
            history = History(settings=settings, database=database, read=read)
            with ExitStack() as story_stack, TestClient(app=create_command_api(platform)) as client:
                tell_the_story(Story(history, client, followers(platform, story_stack)), platform)
            yield history
    finally:
        drop_database(server, database.dbname)
