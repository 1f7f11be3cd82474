"""Health probes, metrics and JSON logs of the real processes."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from adapters.database import Database
from adapters.settings import Settings
from composition.write_side import Platform, open_platform
from domain.order import OrderStatus
from scripts.processes import background_process, free_port, logistics_process
from tests.e2e.stack import Stack, running_stack
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually
from web.command_api.app import create_command_api

pytestmark = pytest.mark.e2e


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    with open_platform(settings) as opened:
        yield opened


def test_metrics_move_by_the_right_amounts(platform: Platform) -> None:
    admin = {"Authorization": f"Bearer {platform.tokens.issue('admin', 'ops')}"}
    customer = {"Authorization": f"Bearer {platform.tokens.issue('customer', 'metrics')}"}
    with TestClient(app=create_command_api(platform)) as client:
        product = client.post("/api/products", headers=admin,
                              json={"sku": "MET-1", "name": "Metric", "price": "1.00", "initial_stock": 5}).json()
        before = samples(client.get("/metrics").text)
        body = {"items": [{"product_id": product["id"], "quantity": 1}], "payment": {"token": "tok_ok"},
                "delivery": {"address": "x", "lat": 1.0, "lng": 1.0}}
        for _ in range(3):
            assert client.post("/api/orders", json=body, headers=customer).status_code == 202
        assert client.post("/api/orders", json={**body, "items": []}, headers=customer).status_code == 422
        after = samples(client.get("/metrics").text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("logistics_commands_total", command="PlaceOrder", outcome="accepted") == 3
    assert moved("logistics_commands_total", command="PlaceOrder", outcome="rejected") == 1
    assert moved("logistics_events_appended_total", context="orders") == 3
    assert moved("logistics_http_requests_total", method="POST", path="/api/orders", status_code="202",
                  app_name="logistics") == 3
    assert ("logistics_relay_backlog", frozenset()) in after
    assert any(name == "logistics_projection_lag_events" for name, _ in after)


def test_every_process_answers_its_health_checks(database: Database, tmp_path: Path, rabbit: RabbitEnv) -> None:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_AMQP_URL": rabbit.url,
           "LOGISTICS_AMQP_EXCHANGE": rabbit.exchange, "LOGISTICS_SECRET": "health-secret-long-enough-for-hs256",
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none")}
    worker_port, projector_port = free_port(), free_port()
    with logistics_process(["command-api"], env, tmp_path) as command_api, \
            logistics_process(["query-api"], env, tmp_path) as query_api, \
            background_process(["worker", "--health-port", str(worker_port)], env, tmp_path), \
            background_process(["projector", "--health-port", str(projector_port)], env, tmp_path):
        urls = [command_api.base_url, query_api.base_url, f"http://127.0.0.1:{worker_port}",
                f"http://127.0.0.1:{projector_port}"]
        for url in urls:
            assert _eventually_ready(url) == {"status": "ready"}, url
            assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200
            assert "logistics_" in httpx.get(f"{url}/metrics", timeout=10).text


def _eventually_ready(url: str, limit_s: float = 60) -> Any:
    def ready() -> Any:
        response = httpx.get(f"{url}/health/ready", timeout=10)
        return response.json() if response.status_code == 200 else None

    return eventually(ready, timeout=limit_s, interval=0.3, retrying=(httpx.TransportError,), what=f"{url} ready")


@pytest.fixture
def stack(database: Database, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(database, tmp_path, LOGISTICS_LOG_FORMAT="json") as running:
        yield running


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _all_lines(stack: Stack) -> list[dict[str, Any]]:
    return [line for path in stack.log_dir.glob("*.log") for line in json_lines(path)]


def test_the_log_of_an_order_carries_its_correlation_id(stack: Stack) -> None:
    product = stack.create_product("LOG-1", stock=5)
    courier_id, courier_token = stack.register_courier()
    courier = {"Authorization": f"Bearer {courier_token}"}
    order_id = stack.place("logger", product)
    order = stack.pick_up(order_id, courier)
    assert stack.http.post(f"/api/couriers/{courier_id}/location", headers=courier,
                           json={"lat": -6.19, "lng": 106.82}).status_code == 202
    assert stack.http.post(f"/api/shipments/{order.shipment_id}/delivered", headers=courier).status_code == 202
    stack.wait_for_status(order_id, OrderStatus.DELIVERED)
    assert stack.http.post(f"/api/orders/{order_id}/receipt",
                           headers=stack.bearer("customer", "logger")).status_code == 202
    stack.wait_for_status(order_id, OrderStatus.RECEIVED)
    # The last saga step (shipping frees the courier) follows the receipt; wait until the worker has logged it.
    eventually(lambda: any("Shipping on_order_received" in line.get("message", "") for line in _all_lines(stack)),
               timeout=60, interval=0.2, what="the worker logging the courier's release")

    logs = _all_lines(stack)
    about_the_order = [line for line in logs if str(order_id) in json.dumps(line)]
    assert about_the_order, "nothing was logged about the order"
    assert all(line.get("correlation_id") == str(order_id) for line in about_the_order), [
        line for line in about_the_order if line.get("correlation_id") != str(order_id)]
    assert all(line.get("order_id") == str(order_id) for line in about_the_order)
    steps = {line["message"].split(":")[0] for line in about_the_order if line["logger"] == "commands.saga_steps"}
    assert {"Inventory on_order_placed", "Payments on_order_placed", "Orders on_stock_held",
            "Orders on_payment_authorized", "Shipping on_order_confirmed", "Orders on_shipment_picked_up",
            "Orders on_shipment_delivered", "Shipping on_order_received"} <= steps
    assert any(line["logger"] == "web.command_api.orders" and "placed" in line["message"]
               for line in about_the_order)
    assert UUID(about_the_order[0]["order_id"]) == order_id
