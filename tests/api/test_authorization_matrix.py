"""Who may do what over HTTP: every route of the command API and the query API (REST, push, web pages) x every
identity of tests/api/authorization.py, with the expected outcome of each cell written once, in MATRIX.

MATRIX must hold exactly the routes the two apps serve (the apps are asked, see `served_routes`): a new route
without a row fails `test_the_matrix_covers_every_route_exactly`. OPTIONS is the framework's answer on every
path (the methods, nothing else) and is one rule for all, checked by `test_options_names_methods_to_anyone`.

How each kind of route is asked, and what each outcome looks like there:
- API: `Authorization: Bearer`; refusals are problem+json with the status's type (401 `unauthenticated`,
  403 `forbidden`, 404 `not-found`).
- PAGE: the HttpOnly cookie, as a browser sends it; no or a bad token is a redirect to /login, the wrong role
  the 403 page, someone else's thing the 404 page.
- SSE and WS: `?token=`, as a browser's EventSource and WebSocket send it. SSE refuses with problem+json; a
  WebSocket is closed with 4000 + the status, before anything of the order is sent.
Every refused call must leave every context's event log where it was, and nothing another customer or
courier is allowed to see may hold the first customer's or the first courier's ids, name or address.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.routes import HTTPRoute, WebSocketRoute
from litestar.testing import TestClient, WebSocketTestSession

from domain.order import OrderStatus
from tests.api.authorization import (
    ADMIN_ONLY,
    CARRIER_OR_ADMIN,
    COURIER_ITSELF_OR_ADMIN,
    COURIERS,
    COURIERS_OWN_OR_ADMIN,
    CUSTOMERS,
    CUSTOMERS_OWN_OR_ADMIN,
    FIRST_CUSTOMER,
    LOGIN,
    ORDER_OWNER,
    ORDER_OWNER_OR_ADMIN,
    OTHERS,
    PRODUCT_NAME,
    PUBLIC,
    SHIPMENT_PARTIES,
    SIGNED_IN_ANY,
    Identity,
    Outcome,
    Rule,
    World,
)
from tests.api.conftest import order_body
from web.auth import TOKEN_COOKIE
from web.problems import PROBLEM_BASE


class App(Enum):
    COMMANDS = "command API"
    QUERIES = "query API"


class Kind(Enum):
    API = "api"
    PAGE = "page"
    SSE = "sse"
    WS = "ws"


@dataclass(frozen=True)
class Call:
    """What one cell sends: path parameters, query, a JSON or form body, WebSocket frames and the first frame
    an allowed WebSocket must get (a subset of its keys)."""

    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    frames: tuple[Any, ...] = ()
    first_frame: Mapping[str, Any] = field(default_factory=dict)


Builder = Callable[[World, Identity, bool], Call]
"""The call for a cell: the world, who calls, and whether the call is expected to succeed (a call that
succeeds and changes what it names gets a fresh thing of its own)."""


def nothing(world: World, identity: Identity, allowed: bool) -> Call:
    return Call()


@dataclass(frozen=True)
class Row:
    app: App
    kind: Kind
    method: str
    path: str
    rule: Rule
    call: Builder = nothing
    ok: int | Mapping[Identity, int] = 200
    """The status of an allowed call (by identity where it differs)."""
    variant: str = ""
    """Tells apart two rows of one route that ask it different things (the push socket's subscriptions)."""

    @property
    def key(self) -> tuple[App, str, str]:
        return self.app, self.method, self.path

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}{f' [{self.variant}]' if self.variant else ''}"

    def ok_for(self, identity: Identity) -> int:
        return self.ok if isinstance(self.ok, int) else self.ok.get(identity, 200)


# -- the calls --------------------------------------------------------------------------------------------------


def parked_event(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"parked_id": world.parked_event()})


def skip_parked_event(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"parked_id": world.parked_event()}, json={"reason": "entered twice"})


def product(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"product_id": world.product})


def new_product(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(json={"sku": world.new_sku(), "name": "Matrix tea", "price": "2.00", "initial_stock": 1})


def rename_product(world: World, identity: Identity, allowed: bool) -> Call:
    # Its own name again: allowed, it changes nothing.
    return Call(params={"product_id": world.product}, json={"name": PRODUCT_NAME})


def discontinue_product(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"product_id": world.product_to_discontinue})


def restock_product(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"product_id": world.product}, json={"quantity": 1, "reason": "recount"})


def place_order(world: World, identity: Identity, allowed: bool) -> Call:
    # A declined card: the saga cancels it, so no shipment of it ever takes a courier the other cells count on.
    return Call(json=order_body(world.product, token="tok_decline"))


def cancel_order(world: World, identity: Identity, allowed: bool) -> Call:
    order = world.fresh_pending_order() if allowed else world.pending_order
    return Call(params={"order_id": order}, json={"reason": "changed my mind"})


def confirm_receipt(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"order_id": world.delivered_order() if allowed else world.carried_order})


def register_courier(world: World, identity: Identity, allowed: bool) -> Call:
    # Far away from every delivery address: never the nearest free courier.
    return Call(json={"name": f"Relief {world.serial()}", "lat": 60.0, "lng": 10.0})


def courier(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"courier_id": world.courier.id})


def move_courier(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"courier_id": world.courier.id}, json={"lat": -6.191, "lng": 106.821})


def stay_on_duty(world: World, identity: Identity, allowed: bool) -> Call:
    # On duty already: allowed, it changes nothing (ending the shift would hand the courier's work on).
    return Call(params={"courier_id": world.courier.id}, json={"on_duty": True})


def mark_picked_up(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"shipment_id": world.assigned_shipment() if allowed else world.carried_shipment})


def mark_delivered(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"shipment_id": world.in_transit_shipment() if allowed else world.carried_shipment})


def order(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"order_id": world.received_order})


def order_stream(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(query={"order_id": world.received_order})


def shipment(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"shipment_id": world.carried_shipment})


def order_stream_of_events(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"aggregate_id": world.received_order})


def order_trace(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"correlation_id": world.received_order})


def order_socket(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(params={"order_id": world.received_order},
                first_frame={"type": "view.order.snapshot", "entity_id": world.received_order})


def subscribe_order(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(frames=({"subscribe": world.received_order},),
                first_frame={"type": "view.order.snapshot", "entity_id": world.received_order})


def subscribe_everything(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(frames=({"subscribe": "*"},), first_frame={"type": "subscribed", "subscription": "*"})


def fleet_socket(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(first_frame={"type": "subscribed", "subscription": "fleet"})


def subscribe_fleet(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(frames=({"subscribe": "fleet"},), first_frame={"type": "subscribed", "subscription": "fleet"})


def subscribe_courier(world: World, identity: Identity, allowed: bool) -> Call:
    topic = f"courier:{world.courier.id}"
    return Call(frames=({"subscribe": topic},), first_frame={"type": "subscribed", "subscription": topic})


def login_form(world: World, identity: Identity, allowed: bool) -> Call:
    return Call(form={"token": world.token(identity) or ""})


def static_file(name: str) -> Builder:
    def call(world: World, identity: Identity, allowed: bool) -> Call:
        return Call(params={"file_path": name})

    return call


# -- the matrix -------------------------------------------------------------------------------------------------

C, Q = App.COMMANDS, App.QUERIES
API, PAGE, SSE, WS = Kind.API, Kind.PAGE, Kind.SSE, Kind.WS
SCHEMA_PAGES: Final = ("/schema", "/schema/swagger", "/schema/redoc", "/schema/elements", "/schema/rapidoc",
                       "/schema/openapi.json", "/schema/openapi.yaml", "/schema/openapi.yml",
                       "/schema/oauth2-redirect.html")


def public_routes(app: App) -> list[Row]:
    """What both apps answer anyone: health, metrics and the API documents (a schema path that is none of
    them is the framework's 404 page, for anyone alike)."""
    return [
        Row(app, API, "GET", "/health/live", PUBLIC),
        Row(app, API, "GET", "/health/ready", PUBLIC),
        Row(app, API, "GET", "/metrics", PUBLIC),
        *(Row(app, API, "GET", path, PUBLIC) for path in SCHEMA_PAGES),
        Row(app, API, "GET", "/schema/{path:str}", PUBLIC, lambda *_: Call(params={"path": "nothing-here"}), ok=404),
    ]


MATRIX: Final[list[Row]] = [
    # The command API.
    Row(C, API, "POST", "/api/products", ADMIN_ONLY, new_product, ok=201),
    Row(C, API, "PATCH", "/api/products/{product_id:uuid}", ADMIN_ONLY, rename_product),
    Row(C, API, "DELETE", "/api/products/{product_id:uuid}", ADMIN_ONLY, discontinue_product, ok=204),
    Row(C, API, "POST", "/api/products/{product_id:uuid}/restock", ADMIN_ONLY, restock_product, ok=202),
    Row(C, API, "POST", "/api/orders", CUSTOMERS, place_order, ok=202),
    Row(C, API, "POST", "/api/orders/{order_id:uuid}/cancel", ORDER_OWNER_OR_ADMIN, cancel_order, ok=202),
    Row(C, API, "POST", "/api/orders/{order_id:uuid}/receipt", ORDER_OWNER, confirm_receipt, ok=202),
    Row(C, API, "POST", "/api/couriers", ADMIN_ONLY, register_courier, ok=201),
    Row(C, API, "POST", "/api/ops/parked/{parked_id:int}/retry", ADMIN_ONLY, parked_event, ok=202),
    Row(C, API, "POST", "/api/ops/parked/{parked_id:int}/skip", ADMIN_ONLY, skip_parked_event, ok=202),
    Row(C, API, "GET", "/api/couriers/{courier_id:uuid}/assignment", COURIER_ITSELF_OR_ADMIN, courier),
    Row(C, API, "POST", "/api/couriers/{courier_id:uuid}/location", COURIER_ITSELF_OR_ADMIN, move_courier, ok=202),
    Row(C, API, "POST", "/api/couriers/{courier_id:uuid}/shift", COURIER_ITSELF_OR_ADMIN, stay_on_duty, ok=202),
    Row(C, API, "POST", "/api/shipments/{shipment_id:uuid}/picked-up", CARRIER_OR_ADMIN, mark_picked_up, ok=202),
    Row(C, API, "POST", "/api/shipments/{shipment_id:uuid}/delivered", CARRIER_OR_ADMIN, mark_delivered, ok=202),
    Row(C, API, "GET", "/static/vendor/{file_path:path}", PUBLIC, static_file("htmx.min.js")),
    Row(C, API, "HEAD", "/static/vendor/{file_path:path}", PUBLIC, static_file("htmx.min.js")),
    *public_routes(C),
    # The query API.
    Row(Q, API, "GET", "/api/orders", CUSTOMERS_OWN_OR_ADMIN),
    Row(Q, API, "GET", "/api/orders/{order_id:uuid}", ORDER_OWNER_OR_ADMIN, order),
    Row(Q, API, "GET", "/api/products", SIGNED_IN_ANY),
    Row(Q, API, "GET", "/api/products/{product_id:uuid}", SIGNED_IN_ANY, product),
    Row(Q, API, "GET", "/api/shipments", COURIERS_OWN_OR_ADMIN),
    Row(Q, API, "GET", "/api/shipments/{shipment_id:uuid}", SHIPMENT_PARTIES, shipment),
    Row(Q, API, "GET", "/api/couriers", COURIERS_OWN_OR_ADMIN),
    Row(Q, API, "GET", "/api/couriers/{courier_id:uuid}", COURIER_ITSELF_OR_ADMIN, courier),
    Row(Q, API, "GET", "/api/audit/events", ADMIN_ONLY),
    Row(Q, API, "GET", "/api/ops/parked", ADMIN_ONLY),
    Row(Q, API, "GET", "/api/ops/parked/{parked_id:int}", ADMIN_ONLY, parked_event),
    Row(Q, API, "GET", "/api/audit/streams/{aggregate_id:uuid}", ADMIN_ONLY, order_stream_of_events),
    Row(Q, API, "GET", "/api/audit/streams/{aggregate_id:uuid}/state", ADMIN_ONLY, order_stream_of_events),
    Row(Q, API, "GET", "/api/audit/trace/{correlation_id:str}", ADMIN_ONLY, order_trace),
    Row(Q, API, "GET", "/api/ops/late-deliveries", ADMIN_ONLY),
    *public_routes(Q),
    # Push.
    Row(Q, SSE, "GET", "/api/orders/stream", ORDER_OWNER_OR_ADMIN, order_stream),
    Row(Q, WS, "WS", "/ws/orders/{order_id:uuid}", ORDER_OWNER_OR_ADMIN, order_socket),
    Row(Q, WS, "WS", "/ws", ORDER_OWNER_OR_ADMIN, subscribe_order, variant="an order"),
    Row(Q, WS, "WS", "/ws", ADMIN_ONLY, subscribe_everything, variant="every change"),
    Row(Q, WS, "WS", "/ws", ADMIN_ONLY, subscribe_fleet, variant="the fleet"),
    Row(Q, WS, "WS", "/ws", ADMIN_ONLY, subscribe_courier, variant="one courier"),
    Row(Q, WS, "WS", "/ws/fleet", ADMIN_ONLY, fleet_socket),
    # The web pages.
    Row(Q, PAGE, "GET", "/", PUBLIC, ok=303),
    Row(Q, PAGE, "GET", "/login", PUBLIC),
    Row(Q, PAGE, "POST", "/login", LOGIN, login_form, ok=303),
    Row(Q, PAGE, "GET", "/logout", PUBLIC, ok=303),
    Row(Q, PAGE, "POST", "/logout", PUBLIC, ok=303),
    Row(Q, PAGE, "GET", "/shop", CUSTOMERS),
    Row(Q, PAGE, "GET", "/orders", CUSTOMERS_OWN_OR_ADMIN, ok={Identity.ADMIN: 303}),  # an operator's is the board
    Row(Q, PAGE, "GET", "/orders/{order_id:str}", ORDER_OWNER_OR_ADMIN, order),
    Row(Q, PAGE, "GET", "/ops", ADMIN_ONLY),
    Row(Q, PAGE, "GET", "/ops/dashboard", ADMIN_ONLY),
    Row(Q, PAGE, "GET", "/ops/products", ADMIN_ONLY),
    Row(Q, PAGE, "GET", "/ops/couriers", ADMIN_ONLY),
    Row(Q, PAGE, "GET", "/ops/late", ADMIN_ONLY),
    Row(Q, PAGE, "GET", "/ops/status", ADMIN_ONLY),
    Row(Q, PAGE, "GET", "/ops/parked", ADMIN_ONLY),
    Row(Q, PAGE, "GET", "/ops/audit", ADMIN_ONLY),
    Row(Q, PAGE, "GET", "/ops/audit/streams/{aggregate_id:str}", ADMIN_ONLY, order_stream_of_events),
    Row(Q, PAGE, "GET", "/ops/audit/streams/{aggregate_id:str}/state", ADMIN_ONLY, order_stream_of_events),
    Row(Q, PAGE, "GET", "/ops/audit/trace/{correlation_id:str}", ADMIN_ONLY, order_trace),
    Row(Q, PAGE, "GET", "/courier", COURIERS),
    Row(Q, PAGE, "GET", "/static/{file_path:path}", PUBLIC, static_file("css/app.css")),
    Row(Q, PAGE, "HEAD", "/static/{file_path:path}", PUBLIC, static_file("css/app.css")),
]


# -- the routes the apps serve ----------------------------------------------------------------------------------


def served_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path) of every route; WebSockets as method `WS`; OPTIONS left to its own test."""
    served = set()
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            served.add(("WS", route.path))
        elif isinstance(route, HTTPRoute):
            served |= {(method, route.path) for method in route.methods if method != "OPTIONS"}
        else:
            raise AssertionError(f"a route of a kind the matrix does not know: {route!r}")
    return served


def apps(world: World) -> dict[App, Litestar]:
    app_of = {App.COMMANDS: world.commands.app, App.QUERIES: world.queries.app}
    assert all(isinstance(app, Litestar) for app in app_of.values())
    return {key: app for key, app in app_of.items() if isinstance(app, Litestar)}


def test_the_matrix_covers_every_route_exactly(world: World) -> None:
    rows = [(row.key, row.variant) for row in MATRIX]
    assert len(rows) == len(set(rows)), "a route has two rows that ask the same"
    for app, litestar_app in apps(world).items():
        served = served_routes(litestar_app)
        listed = {(method, path) for (row_app, method, path), _ in rows if row_app is app}
        assert served - listed == set(), f"{app.value}: routes without a row in MATRIX"
        assert listed - served == set(), f"{app.value}: rows of routes it no longer serves"


def test_the_cells_ask_about_real_things_of_the_first_customer_and_courier(world: World) -> None:
    """So that another customer's or courier's refusal is about who asks, never about an id that is missing."""
    write = world.platform.write
    for order_id in (world.received_order, world.carried_order, world.pending_order):
        assert write.orders.get_order(UUID(order_id)).customer_id == FIRST_CUSTOMER
    assert write.orders.get_order(UUID(world.received_order)).status is OrderStatus.RECEIVED
    carried = write.shipping.get_shipment(UUID(world.carried_shipment))
    assert (carried.order_id, str(carried.courier_id)) == (UUID(world.carried_order), world.courier.id)
    other = write.shipping.find_shipment_for(UUID(world.other_order))
    assert other is not None
    assert str(other.courier_id) == world.other_courier.id
    assert write.orders.get_order(UUID(world.other_order)).customer_id != FIRST_CUSTOMER


# -- the cells --------------------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
PROBLEM_TYPES: Final = {Outcome.UNAUTHENTICATED: (401, "unauthenticated"), Outcome.FORBIDDEN: (403, "forbidden"),
                        Outcome.NOT_FOUND: (404, "not-found")}
CLOSE_CODES: Final = {Outcome.UNAUTHENTICATED: 4401, Outcome.FORBIDDEN: 4403, Outcome.NOT_FOUND: 4404}


def cells() -> Iterator[Any]:
    for row in MATRIX:
        for identity in Identity:
            yield pytest.param(row, identity, id=f"{row.app.name.lower()} {row.label} as {identity.value}")


def concrete_path(row: Row, call: Call) -> str:
    return PLACEHOLDER.sub(lambda match: call.params[match.group(1)], row.path)


def with_query(path: str, query: Mapping[str, str]) -> str:
    return path + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


@pytest.mark.parametrize(("row", "identity"), list(cells()))
def test_cell(world: World, row: Row, identity: Identity) -> None:
    outcome = row.rule(identity)
    call = row.call(world, identity, outcome is Outcome.ALLOWED)
    before = world.positions()
    client = world.commands if row.app is App.COMMANDS else world.queries
    if row.kind is Kind.WS:
        text = socket_cell(client, world, row, call, identity, outcome)
    else:
        text = http_cell(client, world, row, call, identity, outcome)
    if outcome is not Outcome.ALLOWED:
        assert world.positions() == before, "a refused call wrote events"
    assert_nothing_leaked(world, identity, outcome, text)


def assert_nothing_leaked(world: World, identity: Identity, outcome: Outcome, text: str) -> None:
    """Another customer or courier sees nothing of the first customer's (their name, address, order, shipment
    and courier ids) in what it may see, and a refusal shows it to nobody. (A refusal names the id it was asked
    about, as a 404 does: the caller sent it.)"""
    private: list[str] = []
    if identity in OTHERS or (outcome is not Outcome.ALLOWED and identity is not Identity.CUSTOMER):
        private.extend(world.private_text)
    if identity in OTHERS and outcome is Outcome.ALLOWED:
        private.extend(world.private_ids)
    leaked = [value for value in private if value in text]
    assert leaked == [], f"the answer holds the first customer's or courier's {leaked}"


def http_cell(client: TestClient[Any], world: World, row: Row, call: Call, identity: Identity,
              outcome: Outcome) -> str:
    token = world.token(identity)
    headers: dict[str, str] = {}
    query = dict(call.query)
    if row.kind is Kind.API:
        headers = world.bearer(identity)
    elif row.kind is Kind.PAGE and token:
        headers = {"Cookie": f"{TOKEN_COOKIE}={token}"}
    elif row.kind is Kind.SSE and token:
        query["token"] = token
    response = client.request(row.method, with_query(concrete_path(row, call), query), headers=headers,
                              json=call.json, data=call.form, follow_redirects=False, timeout=30)
    status, content_type = response.status_code, response.headers.get("content-type", "")
    if row.kind is Kind.PAGE:
        check_page(response.text, status, response.headers, outcome, row.ok_for(identity))
    elif outcome is Outcome.ALLOWED:
        assert status == row.ok_for(identity), response.text[:500]
        if row.kind is Kind.SSE:
            assert content_type.startswith("text/event-stream")
            assert f'"order_id": "{call.query["order_id"]}"' in response.text
            assert "event: completed" in response.text  # the order is final: the stream ends
    else:
        expected_status, slug = PROBLEM_TYPES[outcome]
        assert status == expected_status, response.text[:500]
        assert content_type.startswith("application/problem+json")
        assert response.json()["type"] == PROBLEM_BASE + slug
    return response.text


def check_page(text: str, status: int, headers: Mapping[str, str], outcome: Outcome, ok: int) -> None:
    if outcome is Outcome.ALLOWED:
        assert status == ok, text[:500]
    elif outcome is Outcome.UNAUTHENTICATED:
        assert status in (302, 303), text[:500]
        assert headers["location"] == "/login"
    elif outcome is Outcome.REFUSED:
        assert status == 400, text[:500]
        assert "set-cookie" not in headers
        assert 'action="/login"' in text
    else:
        expected_status, title = {Outcome.FORBIDDEN: (403, "Not for your role"),
                                  Outcome.NOT_FOUND: (404, "not found")}[outcome]
        assert status == expected_status, text[:500]
        assert headers["content-type"].startswith("text/html")
        assert title in text


def socket_cell(client: TestClient[Any], world: World, row: Row, call: Call, identity: Identity,
                outcome: Outcome) -> str:
    token = world.token(identity)
    path = with_query(concrete_path(row, call), {"token": token} if token else {})
    # Without a token the server waits (10 s) for a frame carrying one: a first frame without one ends that now.
    frames = call.frames or (() if token else ({},))
    with client.websocket_connect(path) as socket:
        for frame in frames:
            socket.send_json(frame)
        if outcome is Outcome.ALLOWED:
            first: dict[str, Any] = socket.receive_json(timeout=10)
            assert {key: first.get(key) for key in call.first_frame} == dict(call.first_frame)
            return str(first)
        answer = received_or_closed(socket)
        assert isinstance(answer, WebSocketDisconnect), f"a refused socket was sent {answer[:300]}"
        assert answer.code == CLOSE_CODES[outcome], answer.detail
        return str(answer.detail)


def received_or_closed(socket: WebSocketTestSession) -> str | WebSocketDisconnect:
    """The first frame the server sends, or how it closed the socket before sending one."""
    try:
        return socket.receive_text(timeout=10)
    except WebSocketDisconnect as closed:
        return closed


# -- OPTIONS ----------------------------------------------------------------------------------------------------


def http_paths() -> Iterator[Any]:
    for app in App:
        for path in sorted({row.path for row in MATRIX if row.app is app and row.kind is not Kind.WS}):
            yield pytest.param(app, path, id=f"{app.name.lower()} {path}")


@pytest.mark.parametrize(("app", "path"), list(http_paths()))
def test_options_names_methods_to_anyone(world: World, app: App, path: str) -> None:
    client = world.commands if app is App.COMMANDS else world.queries
    served = {row.method for row in MATRIX if row.app is app and row.path == path}
    concrete = PLACEHOLDER.sub(lambda match: world.product if "uuid" in match.group(0)
                              else "1" if ":int" in match.group(0) else "x", path)
    for identity in Identity:
        response = client.options(concrete, headers=world.bearer(identity))
        assert response.status_code == 204, (identity, response.text)
        assert response.content == b""
        assert set(response.headers["allow"].replace(" ", "").split(",")) == served | {"OPTIONS"}, identity
