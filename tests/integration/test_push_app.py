"""The push endpoints inside the query app (Litestar's test client, in-process broker, real PostgreSQL)."""

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from adapters.inprocess_broker import InProcessBroker
from adapters.messaging import Message
from adapters.settings import Settings
from adapters.tokens import TokenIssuer
from composition.read_side import ReadSide, open_read_side
from queries.push_hub import ViewChange
from web.baseline import BaselinePlugin
from web.query_api.push import PushPlugin
from web.query_api.push_redaction import RedactQueryTokens


@pytest.fixture
def broker() -> Iterator[InProcessBroker]:
    in_process = InProcessBroker()
    yield in_process
    in_process.close()


@pytest.fixture
def read(settings: Settings, broker: InProcessBroker) -> Iterator[ReadSide]:
    with open_read_side(settings, broker=broker) as opened:
        yield opened


def push_app(read: ReadSide, capacity: int) -> tuple[Litestar, PushPlugin]:
    plugin = PushPlugin(read, capacity=capacity)
    return Litestar(plugins=[plugin, BaselinePlugin(read.settings.secret)]), plugin


def view_change(outbox_id: int, entity: str = "o-1") -> ViewChange:
    return ViewChange.from_envelope(outbox_id, {"id": f"m{outbox_id}", "type": "view.order.updated", "view": "order",
                                                "entity_id": entity, "data": {"status": "PENDING"}})


def test_a_client_that_falls_behind_is_closed_and_told_why(read: ReadSide) -> None:
    app, plugin = push_app(read, capacity=1)
    admin = TokenIssuer(read.settings.secret).issue("admin", "ops")
    with TestClient(app=app) as client, client.websocket_connect(f"/ws?token={admin}") as socket:
        socket.send_json({"subscribe": "*"})
        assert socket.receive_json(timeout=5) == {"type": "subscribed", "subscription": "*"}

        def burst() -> None:
            # Two changes within one turn of the loop: the connection gets no chance to take the first.
            plugin.hub.publish(view_change(1))
            plugin.hub.publish(view_change(2))

        client.blocking_portal.call(burst)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text(timeout=5)
        assert closed.value.code == 1013
        assert "too slow" in closed.value.detail
        assert plugin.hub.stats.dropped == 1


def test_changes_from_the_broker_reach_the_firehose_once(read: ReadSide, broker: InProcessBroker) -> None:
    app, _ = push_app(read, capacity=64)
    admin = TokenIssuer(read.settings.secret).issue("admin", "ops")
    with TestClient(app=app) as client, client.websocket_connect("/ws") as socket:
        socket.send_json({"token": admin})
        socket.send_json({"subscribe": "*"})
        assert socket.receive_json(timeout=5) == {"type": "subscribed", "subscription": "*"}
        message = Message("view.order.updated", json.dumps(dict(view_change(7).envelope)).encode(), "m7",
                          headers={"outbox-id": 7, "aggregate-id": "o-1"})
        broker.publish([message, message])  # a redelivery: pushed once
        broker.publish([Message("view.courier.updated", json.dumps(
            {"id": "c", "type": "view.courier.updated", "view": "courier", "entity_id": "c-1", "data": {}}).encode(),
            "m8", headers={"outbox-id": 8})])
        frames: list[dict[str, Any]] = [socket.receive_json(timeout=5), socket.receive_json(timeout=5)]
        assert [(frame["view"], frame["outbox_id"]) for frame in frames] == [("order", 7), ("courier", 8)]
        open_sockets = REGISTRY.get_sample_value("logistics_push_connections", {"kind": "websocket"})
        assert open_sockets is not None
        assert open_sockets >= 1
    assert REGISTRY.get_sample_value("logistics_push_connections", {"kind": "websocket"}) == open_sockets - 1


def test_tokens_in_query_strings_stay_out_of_the_logs() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5000", "/ws/orders/x?token=eyJ.secret.sig&x=1"), None)
    assert RedactQueryTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /ws/orders/x?token=[redacted]&x=1" [accepted]'


@pytest.mark.parametrize("frame", [
    "[" * 1000 + "]" * 1000,
    '{"subscribe":' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"subscribe": "*", "subscribe": "*"}',
    "x" * 10_000,
])
def test_a_hostile_frame_closes_the_socket_with_4400(read: ReadSide, frame: str) -> None:
    app, _ = push_app(read, capacity=8)
    admin = TokenIssuer(read.settings.secret).issue("admin", "ops")
    with TestClient(app=app) as client, client.websocket_connect(f"/ws?token={admin}") as socket:
        socket.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text(timeout=5)
        assert closed.value.code == 4400


def test_a_deeply_nested_first_frame_is_refused_as_a_bad_message(read: ReadSide) -> None:
    app, _ = push_app(read, capacity=8)
    with TestClient(app=app) as client, client.websocket_connect("/ws") as socket:
        socket.send_text("[" * 1000 + "]" * 1000)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text(timeout=5)
        assert closed.value.code == 4400


def test_a_token_under_another_scheme_closes_the_socket_with_4401(read: ReadSide) -> None:
    app, _ = push_app(read, capacity=8)
    admin = TokenIssuer(read.settings.secret).issue("admin", "ops")
    with TestClient(app=app) as client, \
            client.websocket_connect("/ws", headers={"Authorization": f"Basic {admin}"}) as socket:
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text(timeout=5)
        assert closed.value.code == 4401
        assert "Bearer" in closed.value.detail
