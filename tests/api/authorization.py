"""The authorization matrix's vocabulary and world: who calls, what each may get, and real things to ask about.

Nine identities call every endpoint: nobody, two customers, two couriers, an operator, and three tokens that
must never get in (expired, signed with another key, `alg: none`; each claims the admin role, so a check that
let one through would open everything). An access rule maps every identity to the one outcome it gets; the
matrices (`test_authorization_matrix.py`, `test_grpc_authorization_matrix.py`) give each endpoint one rule.

The world is a fresh database with a small history told through the command API and settled by the saga's
and the read models' own followers, driven in this thread (see tests/api/history.py): the first customer's
orders (one received, one on its way with the first courier, one waiting for its payment), the second
customer's order with the second courier. Path parameters always name the first customer's and the first
courier's things, so that the others test ownership, never a 404 for something missing. A call that is
expected to succeed and changes what it touches gets a fresh thing of its own (`fresh_pending_order`,
`in_transit_shipment`, `delivered_order`), so the cells do not depend on each other's order.
"""

import itertools
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import jwt
from litestar.testing import TestClient

from adapters.database import Database, drop_database
from adapters.tokens import TokenIssuer
from composition.read_side import ReadSide, open_read_side
from composition.write_side import Platform, open_platform
from domain.order import OrderStatus
from domain.shipping import ShipmentStatus
from tests.api.history import Courier, History, Story, followers
from tests.conftest import fresh_database, make_settings
from web.command_api.app import create_command_api
from web.query_api.app import create_query_api

Headers = dict[str, str]

FIRST_CUSTOMER: Final = "customer-ayu-7f3c"
SECOND_CUSTOMER: Final = "customer-bima-2d9e"
OPERATOR: Final = "operator-matrix"
PRODUCT_SKU: Final = "TEH-1"
PRODUCT_NAME: Final = "Teh Botol"
ANOTHER_KEY: Final = "another-deployment-secret-long-enough-for-hs256"


class Identity(Enum):
    NO_TOKEN = "no token"
    CUSTOMER = "customer"
    OTHER_CUSTOMER = "another customer"
    COURIER = "courier"
    OTHER_COURIER = "another courier"
    ADMIN = "admin"
    EXPIRED = "expired token"
    OTHER_KEY = "token signed with another key"
    ALG_NONE = "alg none"


SIGNED_IN: Final = frozenset({Identity.CUSTOMER, Identity.OTHER_CUSTOMER, Identity.COURIER, Identity.OTHER_COURIER,
                              Identity.ADMIN})
NOT_SIGNED_IN: Final = frozenset(Identity) - SIGNED_IN
OTHERS: Final = frozenset({Identity.OTHER_CUSTOMER, Identity.OTHER_COURIER})
"""Whatever these are allowed to see must hold nothing of the first customer's or the first courier's."""


class Outcome(Enum):
    ALLOWED = "allowed"
    UNAUTHENTICATED = "401"
    FORBIDDEN = "403"
    NOT_FOUND = "404, as if it did not exist"
    REFUSED = "400, refused and asked again (the login form)"


@dataclass(frozen=True)
class Rule:
    name: str
    outcomes: Mapping[Identity, Outcome]

    def __post_init__(self) -> None:
        assert set(self.outcomes) == set(Identity), f"{self.name} must say what every identity gets"

    def __call__(self, identity: Identity) -> Outcome:
        return self.outcomes[identity]


def access(name: str, allowed: frozenset[Identity] | set[Identity],
           not_found: frozenset[Identity] | set[Identity] = frozenset()) -> Rule:
    """Signed-in callers in `allowed` get in, those in `not_found` are told it does not exist, the other
    signed-in ones are refused for their role, and anyone not signed in is asked to sign in."""
    def outcome(identity: Identity) -> Outcome:
        if identity in NOT_SIGNED_IN:
            return Outcome.UNAUTHENTICATED
        if identity in allowed:
            return Outcome.ALLOWED
        return Outcome.NOT_FOUND if identity in not_found else Outcome.FORBIDDEN

    return Rule(name, {identity: outcome(identity) for identity in Identity})


CUSTOMER, OTHER_CUSTOMER, ADMIN = Identity.CUSTOMER, Identity.OTHER_CUSTOMER, Identity.ADMIN
COURIER, OTHER_COURIER = Identity.COURIER, Identity.OTHER_COURIER

PUBLIC: Final = Rule("PUBLIC", {identity: Outcome.ALLOWED for identity in Identity})
"""Answered without asking who calls; a token, good or bad, changes nothing."""
SIGNED_IN_ANY: Final = access("SIGNED_IN", SIGNED_IN)
ADMIN_ONLY: Final = access("ADMIN_ONLY", {ADMIN})
CUSTOMERS: Final = access("CUSTOMERS", {CUSTOMER, OTHER_CUSTOMER})
CUSTOMERS_OWN_OR_ADMIN: Final = access("CUSTOMERS_OWN_OR_ADMIN", {CUSTOMER, OTHER_CUSTOMER, ADMIN})
"""A list: each customer gets their own part of it, operators all of it."""
COURIERS: Final = access("COURIERS", {COURIER, OTHER_COURIER})
COURIERS_OWN_OR_ADMIN: Final = access("COURIERS_OWN_OR_ADMIN", {COURIER, OTHER_COURIER, ADMIN})
"""A list: each courier gets its own part of it, operators all of it."""
ORDER_OWNER: Final = access("ORDER_OWNER", {CUSTOMER}, not_found={OTHER_CUSTOMER})
ORDER_OWNER_OR_ADMIN: Final = access("ORDER_OWNER_OR_ADMIN", {CUSTOMER, ADMIN}, not_found={OTHER_CUSTOMER})
COURIER_ITSELF_OR_ADMIN: Final = access("COURIER_ITSELF_OR_ADMIN", {COURIER, ADMIN})
"""Another courier is refused (403) before the id is looked up, so it learns nothing either way."""
CARRIER_OR_ADMIN: Final = access("CARRIER_OR_ADMIN", {COURIER, ADMIN}, not_found={OTHER_COURIER})
SHIPMENT_PARTIES: Final = access("SHIPMENT_PARTIES", {CUSTOMER, COURIER, ADMIN},
                                 not_found={OTHER_CUSTOMER, OTHER_COURIER})
LOGIN: Final = Rule("LOGIN", {identity: Outcome.ALLOWED if identity in SIGNED_IN else Outcome.REFUSED
                              for identity in Identity})
"""The login form takes a good token and sets the cookie; anything else is the form again, with no cookie."""


def forged_tokens(secret: str) -> dict[Identity, str]:
    """Tokens that must be refused, each claiming the admin role."""
    now = datetime.now(UTC)
    claims = {"sub": OPERATOR, "role": "admin", "iat": now, "exp": now + timedelta(hours=1)}
    return {
        Identity.EXPIRED: TokenIssuer(secret).issue("admin", OPERATOR, lifetime=timedelta(minutes=-5)),
        Identity.OTHER_KEY: TokenIssuer(ANOTHER_KEY).issue("admin", OPERATOR),
        Identity.ALG_NONE: jwt.encode(claims, "", algorithm="none"),
    }


@dataclass
class World:
    """The platform over a database with a history in it, both HTTP apps, and the things the calls name."""

    platform: Platform
    read: ReadSide
    history: History
    story: Story
    commands: TestClient[Any]
    queries: TestClient[Any]
    courier: Courier
    other_courier: Courier
    product: str
    product_to_discontinue: str
    rpc_product_to_discontinue: str
    received_order: str
    carried_order: str
    carried_shipment: str
    pending_order: str
    other_order: str
    tokens: dict[Identity, str | None] = field(default_factory=dict)
    private_ids: set[str] = field(default_factory=set)
    """The first customer's orders and shipments and the first courier: never in another's answer."""
    _serial: Iterator[int] = field(default_factory=itertools.count)

    @property
    def private_text(self) -> tuple[str, ...]:
        """What only the first customer's own answers may hold: their name and their address."""
        return FIRST_CUSTOMER, address_of(FIRST_CUSTOMER)

    def token(self, identity: Identity) -> str | None:
        return self.tokens[identity]

    def bearer(self, identity: Identity) -> Headers:
        token = self.tokens[identity]
        return {"Authorization": f"Bearer {token}"} if token else {}

    def serial(self) -> int:
        return next(self._serial)

    def new_sku(self) -> str:
        return f"MATRIX-{self.serial()}"

    def positions(self) -> tuple[int, ...]:
        """Every context's last written position: a refused call must leave them all where they were."""
        write = self.platform.write
        return tuple(app.recorder.max_notification_id() or 0
                     for app in (write.orders, write.inventory, write.payments, write.shipping))

    def settle(self) -> None:
        self.story.settle()

    def place(self, customer: str, token: str = "tok_ok") -> str:
        """An order placed through the command API and taken as far as the saga takes it."""
        order_id = self.story.order(f"order-{self.serial()}", customer, PRODUCT_SKU, token=token)
        if customer == FIRST_CUSTOMER:
            self.private_ids.add(order_id)
        return order_id

    def parked_event(self) -> str:
        """A fresh event parked by the orders' read models (as a follower parks one), for retries and skips."""
        with self.platform.database.connect() as connection:
            found = connection.execute(
                "INSERT INTO read.parked_events (follower, upstream, partition, notification_id, originator_id, "
                "originator_version, topic, status, error, attempts) VALUES ('readmodels-from-orders', 'Orders', "
                "0, %s, %s, 1, 'domain.order:Order.Placed', 'parked', 'ValueError: matrix', 3) RETURNING id",
                (10_000_000 + self.serial(), self.received_order)).fetchone()
        assert found is not None
        return str(found[0])

    def fresh_pending_order(self) -> str:
        """The first customer's order, still waiting for its payment (a card whose bank never answers)."""
        order_id = self.place(FIRST_CUSTOMER, token="tok_timeout")
        assert self.platform.write.orders.get_order(UUID(order_id)).status is OrderStatus.PENDING
        return order_id

    def in_transit_shipment(self) -> str:
        """A shipment the first courier carries now and has not delivered; a fresh order's when needed."""
        write = self.platform.write
        self.settle()
        courier = write.shipping.get_courier(UUID(self.courier.id))
        if courier.shipment_id is not None:
            shipment = write.shipping.get_shipment(courier.shipment_id)
            if shipment.status is ShipmentStatus.ASSIGNED:
                self._pick_up(str(shipment.id))
                return str(shipment.id)
            if shipment.status is ShipmentStatus.IN_TRANSIT:
                return str(shipment.id)
            # Delivered: the customer's receipt frees the courier for the next one.
            if write.orders.get_order(shipment.order_id).status is OrderStatus.DELIVERED:
                self.story.post(f"/api/orders/{shipment.order_id}/receipt", self.bearer(Identity.CUSTOMER))
            self.settle()
        assert write.shipping.get_courier(UUID(self.courier.id)).is_available
        order_id = self.place(FIRST_CUSTOMER)
        fresh = write.shipping.find_shipment_for(UUID(order_id))
        assert fresh is not None
        assert fresh.status is ShipmentStatus.ASSIGNED
        assert str(fresh.courier_id) == self.courier.id, "the first courier is the nearest free one"
        self._pick_up(str(fresh.id))
        self.private_ids.add(str(fresh.id))
        return str(fresh.id)

    def _pick_up(self, shipment_id: str) -> None:
        self.story.post(f"/api/shipments/{shipment_id}/picked-up", self.bearer(Identity.ADMIN))
        self.settle()

    def delivered_order(self) -> str:
        """The first customer's order, delivered by the first courier and not yet received."""
        shipment_id = self.in_transit_shipment()
        self.story.post(f"/api/shipments/{shipment_id}/delivered", self.bearer(Identity.ADMIN))
        self.settle()
        order_id = self.platform.write.shipping.get_shipment(UUID(shipment_id)).order_id
        assert self.platform.write.orders.get_order(order_id).status is OrderStatus.DELIVERED
        return str(order_id)


def address_of(customer: str) -> str:
    """The delivery address Story.order gives a customer's orders."""
    return f"Jl. {customer.title()} 1, Jakarta"


def _tell(story: Story, platform: Platform) -> dict[str, str]:
    story.product(PRODUCT_SKU, PRODUCT_NAME, "3.50", 100_000)
    story.product("GONE-1", "Discontinued over HTTP", "1.00", 5)
    story.product("GONE-2", "Discontinued over gRPC", "1.00", 5)
    ani = story.courier("Ani", -6.19, 106.82)  # near every delivery address: the first courier
    story.courier("Budi", -6.9, 107.6)
    story.settle()
    received = story.order("received", FIRST_CUSTOMER, PRODUCT_SKU)
    story.shipment_of("received", platform)
    story.pick_up("received", ani)
    story.move(ani, -6.195, 106.81)
    story.deliver_and_receive("received", ani, FIRST_CUSTOMER)
    carried = story.order("carried", FIRST_CUSTOMER, PRODUCT_SKU)
    story.shipment_of("carried", platform)
    story.pick_up("carried", ani)
    other = story.order("other", SECOND_CUSTOMER, PRODUCT_SKU)  # the first courier is busy: Budi takes it
    story.shipment_of("other", platform)
    story.pick_up("other", story.history.couriers["Budi"])
    pending = story.order("pending", FIRST_CUSTOMER, PRODUCT_SKU, token="tok_timeout")
    return {"received": received, "carried": carried, "other": other, "pending": pending}


@contextmanager
def authorization_world(server: Database, data_dir: Path) -> Iterator[World]:
    """The world on a database of its own, dropped afterwards."""
    database = fresh_database(server)
    try:
        # Readiness is not what the matrix is about: the read models may lag while cells write unsettled.
        settings = make_settings(database, data_dir, LOGISTICS_READY_MAX_LAG_S="86400")
        with ExitStack() as stack:
            platform = stack.enter_context(open_platform(settings, database))
            read = stack.enter_context(open_read_side(settings, database))
            history = History(settings=settings, database=database, read=read)
            commands = stack.enter_context(TestClient(app=create_command_api(platform)))
            queries = stack.enter_context(TestClient(app=create_query_api(read)))
            story = Story(history, commands, followers(platform, stack))
            orders = _tell(story, platform)
            ani, budi = history.couriers["Ani"], history.couriers["Budi"]
            shipments = history.shipments
            assert str(platform.write.shipping.get_shipment(UUID(shipments["carried"])).courier_id) == ani.id
            assert str(platform.write.shipping.get_shipment(UUID(shipments["other"])).courier_id) == budi.id
            world = World(
                platform=platform, read=read, history=history, story=story, commands=commands, queries=queries,
                courier=ani, other_courier=budi, product=history.products[PRODUCT_SKU],
                product_to_discontinue=history.products["GONE-1"],
                rpc_product_to_discontinue=history.products["GONE-2"],
                received_order=orders["received"], carried_order=orders["carried"],
                carried_shipment=shipments["carried"], pending_order=orders["pending"], other_order=orders["other"],
            )
            tokens = platform.tokens
            world.tokens = {
                Identity.NO_TOKEN: None,
                Identity.CUSTOMER: tokens.issue("customer", FIRST_CUSTOMER),
                Identity.OTHER_CUSTOMER: tokens.issue("customer", SECOND_CUSTOMER),
                Identity.COURIER: ani.token,
                Identity.OTHER_COURIER: budi.token,
                Identity.ADMIN: tokens.issue("admin", OPERATOR),
                **forged_tokens(settings.secret),
            }
            world.private_ids |= {orders["received"], orders["carried"], orders["pending"], shipments["received"],
                                  shipments["carried"], ani.id}
            yield world
    finally:
        drop_database(server, database.dbname)
