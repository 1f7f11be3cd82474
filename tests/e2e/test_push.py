"""Live push end to end: real processes on real PostgreSQL and RabbitMQ, a real WebSocket and a real SSE client.

The command API, the worker, the projector (with its relay) and the query API each run as their own process; the
clients see what a browser would. The all-in-one `logistics run` is checked once too, on its in-process broker.
"""

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from websockets.sync.client import ClientConnection

from adapters.database import Database
from adapters.platform_status import platform_status
from adapters.tokens import TokenIssuer
from domain.order import OrderStatus
from domain.shipping import ShipmentStatus
from scripts.processes import RunningProcess, background_process, logistics_process
from tests.e2e.push_clients import (
    SocketFollower,
    StreamFollower,
    close_of,
    distinct_in_order,
    open_socket,
    sse_events,
    status_of,
    ws_url,
)
from tests.e2e.stack import SECRET, Stack, running_stack
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

EVERY_STATUS = ["PENDING", "CONFIRMED", "IN_TRANSIT", "DELIVERED", "RECEIVED"]


@pytest.fixture
def stack(database: Database, tmp_path: Path, rabbit: RabbitEnv) -> Iterator[Stack]:
    # Small pools: four processes share one PostgreSQL with whatever else runs beside this test.
    with running_stack(database, tmp_path, LOGISTICS_AMQP_URL=rabbit.url, LOGISTICS_AMQP_EXCHANGE=rabbit.exchange,
                       LOGISTICS_DB_POOL_SIZE="1", LOGISTICS_DB_MAX_OVERFLOW="3") as running:
        yield running


@pytest.fixture
def query_api(stack: Stack) -> Iterator[RunningProcess]:
    with background_process(["projector"], stack.env, stack.log_dir), \
            logistics_process(["query-api"], stack.env, stack.log_dir) as api:
        yield api


def token(stack: Stack, role: str, subject: str) -> str:
    return stack.tokens.issue(role, subject)


def outbox_statuses(database: Database, order_id: UUID) -> dict[int, str]:
    """The order's view messages as the projector wrote them: outbox id -> status."""
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT id, body -> 'data' ->> 'status' FROM read.outbox WHERE aggregate_id = %s "
            "AND routing_key LIKE 'view.order.%%' ORDER BY id", (order_id,)).fetchall()
    return {int(row[0]): str(row[1]) for row in rows}


def wait_until_projected(stack: Stack, query_api: RunningProcess, order_id: UUID, bearer: str,
                         limit_s: float = 60.0) -> None:
    """The projector starts beside the test; a push client gives up on an order unseen for a few seconds."""
    def stored() -> str:
        with stack.database.connect() as connection:
            row = connection.execute("SELECT doc FROM read.orders WHERE id = %s", (order_id,)).fetchone()
        return f"stored: {row}; {platform_status(stack.database)}"

    with httpx.Client(base_url=query_api.base_url, timeout=10, trust_env=False) as http:
        eventually(lambda: http.get(f"/api/orders/{order_id}", headers={"Authorization": f"Bearer {bearer}"})
                   .status_code == 200, timeout=limit_s, interval=0.1, what=f"order {order_id} served",
                   explain=stored)


def gateway_data(order_id: UUID, status: str) -> str:
    # Byte for byte what the gRPC gateway's stream carried.
    return f'{{"order_id": "{order_id}", "status": "{status}", "message": "order {status}"}}'


def test_websocket_and_sse_clients_see_every_status_of_an_order(stack: Stack, query_api: RunningProcess) -> None:
    product = stack.create_product("PUSH-1", stock=10)
    # Hold the saga back until the clients are connected: otherwise PENDING may be over before they are.
    stack.worker_stack.close()
    order_id = stack.place("alice", product)
    alice = token(stack, "customer", "alice")
    wait_until_projected(stack, query_api, order_id, alice)
    url = ws_url(query_api.base_url, f"/ws/orders/{order_id}?token={alice}")
    with ExitStack() as clients:
        socket = clients.enter_context(SocketFollower(url))
        socket.wait_for_status(str(order_id), "PENDING")
        # EventSource's way (token in the query) and an API client's (bearer header).
        full = clients.enter_context(StreamFollower(query_api.base_url, {"order_id": str(order_id), "token": alice}))
        partial = clients.enter_context(StreamFollower(query_api.base_url, {"order_id": str(order_id)},
                                                       {"Authorization": f"Bearer {alice}"}))
        full.wait_for_status("PENDING")
        partial.wait_for_status("PENDING")

        stack.worker = stack.worker_stack.enter_context(background_process(["worker"], stack.env, stack.log_dir))
        socket.wait_for_status(str(order_id), "CONFIRMED")
        partial.wait_for_status("CONFIRMED")
        partial.close()  # the browser tab goes away; what happens next it must get on reconnecting
        before = partial.snapshot()

        _, courier_token = stack.register_courier()
        courier = {"Authorization": f"Bearer {courier_token}"}

        def assigned() -> UUID | None:
            shipment = stack.read.shipping.find_shipment_for(order_id)
            return shipment.id if shipment is not None and shipment.status is ShipmentStatus.ASSIGNED else None

        picking_up = eventually(assigned, timeout=90, interval=0.2, what="the courier assigned")
        assert stack.http.post(f"/api/shipments/{picking_up}/picked-up", headers=courier).status_code == 202
        shipment_id = stack.wait_for_status(order_id, OrderStatus.IN_TRANSIT).shipment_id
        delivered = stack.http.post(f"/api/shipments/{shipment_id}/delivered",
                                    headers={"Authorization": f"Bearer {courier_token}"})
        assert delivered.status_code == 202, delivered.text
        socket.wait_for_status(str(order_id), "DELIVERED")

        resumed = clients.enter_context(StreamFollower(
            query_api.base_url, {"order_id": str(order_id), "token": alice}, {"Last-Event-ID": str(before[-1].id)}))
        resumed.wait_for_status("DELIVERED")
        receipt = stack.http.post(f"/api/orders/{order_id}/receipt", headers=stack.bearer("customer", "alice"))
        assert receipt.status_code == 202, receipt.text
        socket.wait_for_status(str(order_id), "RECEIVED")
        streamed = full.wait_until_ended()
        after = resumed.wait_until_ended()
        assert socket.closed is None  # the socket outlives a final status: the client decides when to leave

    frames = socket.snapshot()
    assert frames[0]["type"] == "view.order.snapshot"
    assert socket.statuses(str(order_id)) == EVERY_STATUS
    outbox_ids = [frame["outbox_id"] for frame in frames]
    assert outbox_ids == sorted(set(outbox_ids)), "frames repeated or out of order"

    written = outbox_statuses(stack.database, order_id)
    for events in (streamed, after):
        status_events, completed = events[:-1], events[-1]
        assert (completed.event, completed.data) == ("completed", "stream closed")
        assert completed.id == status_events[-1].id
        for event in status_events:
            assert event.event is None
            assert event.data == gateway_data(order_id, event.json["status"])
            assert written[int(event.id or "")] == event.json["status"], "the id is not that status's outbox id"
        ids = [int(event.id or "") for event in status_events]
        assert ids == sorted(set(ids))
    assert [event.json["status"] for event in streamed[:-1]] == EVERY_STATUS
    # Disconnected after CONFIRMED, back after DELIVERED: together exactly every status, none twice.
    assert [event.json["status"] for event in before] == ["PENDING", "CONFIRMED"]
    assert [event.json["status"] for event in after[:-1]] == ["IN_TRANSIT", "DELIVERED", "RECEIVED"]
    assert [event.id for event in before + after[:-1]] == [event.id for event in streamed[:-1]]

    # A final order's stream tells its status and ends at once.
    with httpx.Client(base_url=query_api.base_url, timeout=10, trust_env=False) as http:
        again = http.get("/api/orders/stream", params={"order_id": str(order_id), "token": alice})
    events = list(sse_events(iter(again.text.splitlines())))
    assert [(event.event, event.data) for event in events] == [
        (None, gateway_data(order_id, "RECEIVED")), ("completed", "stream closed")]
    assert again.headers["content-type"].startswith("text/event-stream")


def test_push_lets_in_only_whom_the_api_lets_in(stack: Stack, query_api: RunningProcess) -> None:
    product = stack.create_product("PUSH-2", stock=10)
    order_id = stack.place("alice", product)
    alice, bob = token(stack, "customer", "alice"), token(stack, "customer", "bob")
    admin, courier = token(stack, "admin", "ops"), token(stack, "courier", "c-1")
    wait_until_projected(stack, query_api, order_id, alice)
    base = query_api.base_url
    order_path = f"/ws/orders/{order_id}"

    # WebSocket: a token in the query, or as the first message; nothing else.
    with open_socket(ws_url(base, order_path)) as socket:
        socket.send(json.dumps({"subscribe": str(order_id)}))
        assert close_of(socket)[0] == 4401
    with open_socket(ws_url(base, f"{order_path}?token=not-a-token")) as socket:
        assert close_of(socket) == (4401, "not a token this platform issues (a signed JWT)")
    with open_socket(ws_url(base, order_path)) as socket:
        socket.send(json.dumps({"token": "forged.token.value"}))
        assert close_of(socket)[0] == 4401
    with open_socket(ws_url(base, order_path)) as socket:
        socket.send(json.dumps({"token": alice}))
        snapshot = json.loads(socket.recv(timeout=10))
        assert (snapshot["type"], snapshot["entity_id"]) == ("view.order.snapshot", str(order_id))
        assert snapshot["data"]["customer_id"] == "alice"
    with open_socket(ws_url(base, f"{order_path}?token={bob}")) as socket:
        assert close_of(socket) == (4404, f"order {order_id} not found")
    with open_socket(ws_url(base, f"{order_path}?token={courier}")) as socket:
        assert close_of(socket)[0] == 4403
    with open_socket(ws_url(base, f"{order_path}?token={admin}")) as socket:
        assert status_of(json.loads(socket.recv(timeout=10)), str(order_id)) is not None

    # The multi-order socket: own orders yes, someone else's and the firehose no.
    with open_socket(ws_url(base, f"/ws?token={alice}")) as socket:
        socket.send(json.dumps({"subscribe": str(order_id)}))
        assert json.loads(socket.recv(timeout=10))["entity_id"] == str(order_id)
        socket.send(json.dumps({"unsubscribe": str(order_id)}))
        assert _next_control(socket) == {"type": "unsubscribed", "subscription": str(order_id)}
    with open_socket(ws_url(base, f"/ws?token={bob}")) as socket:
        socket.send(json.dumps({"subscribe": str(order_id)}))
        assert close_of(socket)[0] == 4404
    with open_socket(ws_url(base, f"/ws?token={alice}")) as socket:
        socket.send(json.dumps({"subscribe": "*"}))
        assert close_of(socket) == (4403, "the firehose needs the admin role")
    with open_socket(ws_url(base, f"/ws?token={alice}")) as socket:
        socket.send("not json")
        assert close_of(socket)[0] == 4400
    with SocketFollower(ws_url(base, "/ws"), first_message={"token": admin}) as firehose:
        firehose.send({"subscribe": "*"})
        firehose.wait_until(lambda frames: {"type": "subscribed", "subscription": "*"} in frames)
        other = stack.place("carol", product)  # someone else's order: an operator sees everything
        firehose.wait_for_status(str(other), "PENDING")

    # SSE: the same rules, as HTTP answers.
    with httpx.Client(base_url=base, timeout=20, trust_env=False) as http:
        params = {"order_id": str(order_id)}
        assert http.get("/api/orders/stream", params=params).status_code == 401
        assert http.get("/api/orders/stream", params={**params, "token": "junk"}).status_code == 401
        assert http.get("/api/orders/stream", params={**params, "token": bob}).status_code == 404
        assert http.get("/api/orders/stream", params={**params, "token": courier}).status_code == 403
        bad_resume = http.get("/api/orders/stream", params={**params, "token": alice}, headers={"Last-Event-ID": "x"})
        assert bad_resume.status_code == 422
        for query, headers in (({**params, "token": alice}, {}), (params, {"Authorization": f"Bearer {admin}"})):
            with http.stream("GET", "/api/orders/stream", params=query, headers=headers) as answer:
                assert answer.status_code == 200
                first = next(sse_events(answer.iter_lines()))
                assert first.json["order_id"] == str(order_id)
                assert first.id is not None


def _next_control(socket: ClientConnection) -> dict[str, str]:
    """The next frame that is not a view change (those may still be in flight)."""
    while True:
        frame: dict[str, str] = json.loads(socket.recv(timeout=10))
        if "view" not in frame:
            return frame


def test_the_all_in_one_run_pushes_over_its_in_process_broker(database: Database, tmp_path: Path) -> None:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_AMQP_URL": "", "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none")}
    with logistics_process(["run"], env, tmp_path, startup_limit_s=120) as platform, \
            httpx.Client(base_url=platform.base_url, timeout=30, trust_env=False) as http:
        tokens = TokenIssuer(SECRET)
        admin = tokens.issue("admin", "ops")
        with SocketFollower(ws_url(platform.base_url, f"/ws?token={admin}")) as firehose:
            firehose.send({"subscribe": "*"})
            firehose.wait_until(lambda frames: {"type": "subscribed", "subscription": "*"} in frames)
            product = http.post("/api/products", headers={"Authorization": f"Bearer {admin}"}, json={
                "sku": "RUN-1", "name": "Run", "price": "1.00", "initial_stock": 5})
            assert product.status_code == 201, product.text
            customer = {"Authorization": f"Bearer {tokens.issue('customer', 'dee')}"}
            placed = http.post("/api/orders", headers=customer,
                               json={"items": [{"product_id": product.json()["id"], "quantity": 1}],
                                     "payment": {"token": "tok_ok"},
                                     "delivery": {"address": "Jl. Jaksa 5", "lat": -6.186, "lng": 106.83}})
            assert placed.status_code == 202, placed.text
            order_id = placed.json()["order_id"]
            firehose.wait_for_status(order_id, "CONFIRMED")
        assert distinct_in_order([s for frame in firehose.snapshot() if (s := status_of(frame, order_id))]) == [
            "PENDING", "CONFIRMED"]
