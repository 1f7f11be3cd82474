"""The platform as separate processes on a fresh database, with a customer's, a courier's and an operator's hands.

Assertions read the event store directly (the query API is another process's job); everything the test does
goes over HTTP, as a client's would.
"""

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from adapters.database import Database
from adapters.event_log import notification_pages
from adapters.settings import Settings
from adapters.tokens import TokenIssuer
from composition.write_side import WriteSide, build_write_side
from domain.order import Order, OrderStatus
from domain.shipping import Shipment
from scripts.processes import LOGISTICS, ROOT, RunningProcess, background_process, logistics_process, stop
from tests.waiting import eventually

SECRET = "e2e-secret-that-is-long-enough-for-hs256-signing"
FINAL = {OrderStatus.RECEIVED, OrderStatus.CANCELLED}


@dataclass
class Stack:
    database: Database
    env: dict[str, str]
    log_dir: Path
    http: httpx.Client
    read: WriteSide
    worker: RunningProcess
    worker_stack: ExitStack
    tokens: TokenIssuer = field(default_factory=lambda: TokenIssuer(SECRET))

    def bearer(self, role: str, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue(role, subject)}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.bearer("admin", "ops")

    def create_product(self, sku: str, stock: int, price: str = "10.00") -> UUID:
        response = self.http.post("/api/products", headers=self.admin,
                                  json={"sku": sku, "name": sku.title(), "price": price, "initial_stock": stock})
        assert response.status_code == 201, response.text
        return UUID(response.json()["id"])

    def register_courier(self, lat: float = -6.2, lng: float = 106.8, name: str = "Courier") -> tuple[UUID, str]:
        response = self.http.post("/api/couriers", headers=self.admin, json={"name": name, "lat": lat, "lng": lng})
        assert response.status_code == 201, response.text
        return UUID(response.json()["id"]), response.json()["token"]

    def place(self, customer: str, product_id: UUID, quantity: int = 1, token: str = "tok_ok") -> UUID:
        response = self.http.post("/api/orders", headers=self.bearer("customer", customer), json={
            "items": [{"product_id": str(product_id), "quantity": quantity}],
            "payment": {"token": token},
            "delivery": {"address": "Jl. Kebon Sirih 10", "lat": -6.185, "lng": 106.83},
        })
        assert response.status_code == 202, response.text
        return UUID(response.json()["order_id"])

    def order(self, order_id: UUID) -> Order:
        return self.read.orders.get_order(order_id)

    def wait_for(self, order_id: UUID, done: Callable[[Order], bool], limit_s: float = 90.0) -> Order:
        """Poll until the order satisfies `done`; the limit only ends a hung test, it asserts nothing."""
        def settled() -> Order | None:
            order = self.order(order_id)
            return order if done(order) else None

        return eventually(settled, timeout=limit_s, interval=0.2, what=f"order {order_id} to move on",
                          explain=lambda: f"it is {self.order(order_id).status}; worker log:\n"
                                          f"{self.worker.log()[-4000:]}")

    def wait_for_status(self, order_id: UUID, status: OrderStatus, limit_s: float = 90.0) -> Order:
        return self.wait_for(order_id, lambda order: order.status is status, limit_s)

    def shipment(self, order_id: UUID) -> Shipment | None:
        return self.read.shipping.find_shipment_for(order_id)

    def wait_for_courier(self, order_id: UUID, limit_s: float = 90.0) -> Shipment:
        """Poll until the order's shipment is assigned to a courier (on its way to pick it up, or further)."""
        def assigned() -> Shipment | None:
            shipment = self.shipment(order_id)
            return shipment if shipment is not None and shipment.courier_id is not None else None

        return eventually(assigned, timeout=limit_s, interval=0.2, what=f"a courier for order {order_id}",
                          explain=lambda: f"its shipment is {self.shipment(order_id)}; worker log:\n"
                                          f"{self.worker.log()[-4000:]}")

    def pick_up(self, order_id: UUID, courier: dict[str, str]) -> Order:
        """The courier assigned the order's shipment picks the goods up (`courier`: its headers, or an
        operator's); the order once the saga has taken it in transit."""
        shipment = self.wait_for_courier(order_id)
        response = self.http.post(f"/api/shipments/{shipment.id}/picked-up", headers=courier)
        assert response.status_code == 202, response.text
        return self.wait_for_status(order_id, OrderStatus.IN_TRANSIT)

    def verify(self) -> str:
        """Run `logistics verify` as an operator would; fail with its report unless every invariant holds."""
        done = subprocess.run([*LOGISTICS, "verify"], cwd=ROOT, env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"logistics verify found a breach:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def restart_worker(self, *, kill: bool) -> None:
        if kill:
            self.worker.process.kill()
            self.worker.process.wait()
        else:
            stop(self.worker.process)
        self.worker_stack.close()
        self.worker_stack = ExitStack()
        self.worker = self.worker_stack.enter_context(background_process(["worker"], self.env, self.log_dir))


@contextmanager
def running_stack(database: Database, log_dir: Path, **settings: str) -> Iterator[Stack]:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(log_dir / "data"), "LOGISTICS_ENV_FILE": str(log_dir / "none"),
           # Simulated couriers drive fast-forwarded: a test that wants the real limit sets it.
           "LOGISTICS_MAX_COURIER_SPEED_KMH": "100000", **settings}
    with ExitStack() as stack:
        api = stack.enter_context(logistics_process(["command-api"], env, log_dir))
        http = stack.enter_context(httpx.Client(base_url=api.base_url, timeout=30))
        read = build_write_side(database, Settings.from_env({**env, "LOGISTICS_DB_POOL_SIZE": "1"}), stack)
        worker_stack = ExitStack()
        worker = worker_stack.enter_context(background_process(["worker"], env, log_dir))
        running = Stack(database, env, log_dir, http, read, worker, worker_stack)
        stack.callback(lambda: running.worker_stack.close())  # whichever worker runs by then
        yield running


def events_named(stack: Stack, app: Any, name: str) -> list[Any]:
    """Every event of one kind in a context's log, oldest first."""
    found: list[Any] = []
    for page in notification_pages(app.recorder, page_size=500):
        for notification in page:
            if notification.topic.endswith(f".{name}") or notification.topic.endswith(f":{name}"):
                found.append(app.mapper.to_domain_event(notification))
    return found
