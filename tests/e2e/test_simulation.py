"""Couriers simulated over HTTP pick up and deliver a real order: `logistics command-api` and `logistics worker` on
PostgreSQL."""

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from adapters.database import Database
from adapters.tokens import TokenIssuer
from commands.orders import Orders
from domain.order import OrderStatus
from scripts.movement import Point
from scripts.processes import LOGISTICS, ROOT, logistics_process
from scripts.simulate import SimulationConfig, bearer, courier_simulation
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-that-is-long-enough-for-hs256-signing"
DELIVERY = Point(-6.186, 106.83)
DEADLINE_S = 60.0


@contextmanager
def worker_process(env: dict[str, str], log_dir: Path) -> Iterator[Path]:
    log_path = log_dir / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([*LOGISTICS, "worker"], cwd=ROOT, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                                   stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield log_path
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_simulated_couriers_deliver_an_order_and_are_freed_by_the_receipt(database: Database, tmp_path: Path) -> None:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none")}
    tokens = TokenIssuer(SECRET)
    admin_token = tokens.issue("admin", "ops")
    customer = bearer(tokens.issue("customer", "cust-sim"))
    orders = Orders(env=database.eventsourcing_env(pool_size=1, max_overflow=1))
    try:
        with logistics_process(["command-api"], env, tmp_path) as api, worker_process(env, tmp_path) as worker_log, \
                httpx.Client(base_url=api.base_url, timeout=10) as http:

            def logs() -> str:
                return f"--- command-api ---\n{api.log()}\n--- worker ---\n{worker_log.read_text(errors='replace')}"

            product = http.post("/api/products", headers=bearer(admin_token),
                                json={"sku": "KOPI-1", "name": "Kopi", "price": "25000.00", "initial_stock": 5})
            assert product.status_code == 201, product.text
            config = SimulationConfig(api_url=api.base_url, admin_token=admin_token, count=2, centre=DELIVERY,
                                      radius_km=1.0, speed_kmh=2000.0, tick_s=0.2)
            with courier_simulation(config) as simulation:
                placed = http.post("/api/orders", headers=customer, json={
                    "items": [{"product_id": product.json()["id"], "quantity": 2}],
                    "payment": {"token": "tok_ok"},
                    "delivery": {"address": "Jl. Jaksa 5", "lat": DELIVERY.lat, "lng": DELIVERY.lng},
                })
                assert placed.status_code == 202, placed.text
                order_id = UUID(placed.json()["order_id"])

                def status() -> OrderStatus:
                    return orders.get_order(order_id).status

                eventually(lambda: status() is OrderStatus.DELIVERED, timeout=DEADLINE_S, interval=0.2, what="delivery",
                           explain=logs)
                # The courier counts its delivery once it has the answer, which may trail the saga's reaction.
                eventually(lambda: simulation.stats.deliveries.value == 1, timeout=DEADLINE_S, interval=0.2,
                           what="counting the delivery", explain=logs)
                # Picked up first (after the pick-up time), which is when the order went in transit.
                assert simulation.stats.pickups.value == 1
                story = [type(event).__name__ for event in orders.events.get(order_id)]
                assert story[-3:] == ["Confirmed", "InTransit", "Delivered"]
                carrier = orders.get_order(order_id).courier_id
                assert str(carrier) in {courier.id for courier in simulation.couriers}

                # The courier stays busy with the delivered shipment until the customer confirms receipt.
                admin = bearer(admin_token)
                assignment = http.get(f"/api/couriers/{carrier}/assignment", headers=admin).json()
                assert assignment["shipment_id"] is not None
                received = http.post(f"/api/orders/{order_id}/receipt", headers=customer)
                assert received.status_code == 202, received.text
                assert received.json()["status"] == "RECEIVED"
                assert status() is OrderStatus.RECEIVED

                def courier_free() -> bool:
                    answer = http.get(f"/api/couriers/{carrier}/assignment", headers=admin).json()
                    return answer["status"] == "AVAILABLE" and answer["shipment_id"] is None

                eventually(courier_free, timeout=DEADLINE_S, interval=0.2, what="freeing the courier", explain=logs)
                assert simulation.stats.deliveries.value == 1
            assert not simulation.running
    finally:
        orders.close()
