"""The real processes over real HTTP: `logistics command-api` on PostgreSQL, `logistics run` embedded."""

import subprocess
from pathlib import Path

import httpx
import pytest

from adapters.database import Database
from scripts.processes import LOGISTICS, ROOT, logistics_process
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-that-is-long-enough-for-hs256-signing"


def token(env: dict[str, str], role: str, subject: str) -> str:
    printed = subprocess.run([*LOGISTICS, "token", "--role", role, "--subject", subject], cwd=ROOT,
                             env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    return printed.stdout.strip()


def drive_an_order(base_url: str, env: dict[str, str], schema_path: str = "/schema") -> None:
    admin = {"Authorization": f"Bearer {token(env, 'admin', 'ops')}"}
    customer = {"Authorization": f"Bearer {token(env, 'customer', 'cust-42')}"}
    with httpx.Client(base_url=base_url, timeout=10) as http:
        product = http.post("/api/products", json={"sku": "KOPI-1", "name": "Kopi", "price": "25000.00",
                                                   "initial_stock": 3}, headers=admin)
        assert product.status_code == 201, product.text
        order = http.post("/api/orders", headers={**customer, "Idempotency-Key": "first"}, json={
            "items": [{"product_id": product.json()["id"], "quantity": 2}],
            "payment": {"token": "tok_ok"},
            "delivery": {"address": "Jl. Jaksa 5", "lat": -6.186, "lng": 106.83},
        })
        assert order.status_code == 202, order.text
        assert order.json()["status"] == "PENDING"
        replay = http.post("/api/orders", headers={**customer, "Idempotency-Key": "first"}, json={
            "items": [{"product_id": product.json()["id"], "quantity": 2}],
            "payment": {"token": "tok_ok"},
            "delivery": {"address": "Jl. Jaksa 5", "lat": -6.186, "lng": 106.83},
        })
        assert replay.json() == order.json()
        cancelled = http.post(f"/api/orders/{order.json()['order_id']}/cancel", headers=customer)
        assert cancelled.status_code == 202
        assert cancelled.json()["status"] == "CANCELLED"
        assert http.post("/api/orders", json={}, headers=customer).status_code in (400, 422)
        schema = http.get(f"{schema_path}/openapi.json")
        assert schema.status_code == 200
        assert "PlaceOrder" in {op.get("operationId") for path in schema.json()["paths"].values()
                                for op in path.values()}


def test_command_api_process_on_postgres(database: Database, tmp_path: Path) -> None:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none")}
    with logistics_process(["command-api"], env, tmp_path) as running:
        drive_an_order(running.base_url, env)
    with database.connect() as connection:
        topics = [row[0] for row in connection.execute(
            "SELECT topic FROM orders.orders_events ORDER BY notification_id").fetchall()]
    assert topics == ["domain.order:Order.Placed", "domain.order:Order.Cancelled"]


def saga_assigns_a_courier(base_url: str, env: dict[str, str]) -> None:
    """The worker runs inside `logistics run`: an order placed there reaches a courier by itself."""
    admin = {"Authorization": f"Bearer {token(env, 'admin', 'ops')}"}
    customer = {"Authorization": f"Bearer {token(env, 'customer', 'cust-7')}"}
    with httpx.Client(base_url=base_url, timeout=10) as http:
        courier = http.post("/api/couriers", json={"name": "Embedded", "lat": -6.18, "lng": 106.82}, headers=admin)
        product = http.post("/api/products", json={"sku": "TEH-2", "name": "Teh", "price": "5.00",
                                                   "initial_stock": 3}, headers=admin)
        order = http.post("/api/orders", headers=customer, json={
            "items": [{"product_id": product.json()["id"], "quantity": 1}],
            "payment": {"token": "tok_ok"},
            "delivery": {"address": "Jl. Jaksa 5", "lat": -6.186, "lng": 106.83},
        })
        assert order.status_code == 202
        courier_auth = {"Authorization": f"Bearer {courier.json()['token']}"}
        def assigned() -> bool:
            job = http.get(f"/api/couriers/{courier.json()['id']}/assignment", headers=courier_auth).json()
            return bool(job["order_id"] == order.json()["order_id"])

        eventually(assigned, timeout=60, interval=0.2, what="the courier assigned to the order")


def test_run_on_embedded_postgres(tmp_path: Path) -> None:
    """The README's run path: no database configured, so a private PostgreSQL starts under the data folder."""
    data_dir = tmp_path / "data"
    env = {"LOGISTICS_SECRET": SECRET, "LOGISTICS_DATA_DIR": str(data_dir),
           "LOGISTICS_ENV_FILE": str(tmp_path / "none"), "LOGISTICS_DATABASE_URL": "", "LOGISTICS_AMQP_URL": ""}
    with logistics_process(["run"], env, tmp_path, startup_limit_s=120) as running:
        drive_an_order(running.base_url, env, schema_path="/schema/commands")
        saga_assigns_a_courier(running.base_url, env)
        queries = httpx.get(f"{running.base_url}/schema/openapi.json", timeout=10).json()
        assert "ListOrders" in {op.get("operationId") for path in queries["paths"].values() for op in path.values()}
    assert (data_dir / "postgres" / "PG_VERSION").is_file()
    # The data outlives the process: a second start finds the product from the first.
    with logistics_process(["run"], env, tmp_path, startup_limit_s=120) as running:
        admin = {"Authorization": f"Bearer {token(env, 'admin', 'ops')}"}
        again = httpx.post(f"{running.base_url}/api/products", headers=admin, timeout=10,
                           json={"sku": "kopi-1", "name": "Kopi", "price": "1.00"})
        assert again.status_code == 409
