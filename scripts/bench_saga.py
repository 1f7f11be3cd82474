"""Benchmark: orders from placement to CONFIRMED with the worker running, as throughput and latency.

Orders are placed over HTTP against a real command API while `logistics worker` runs as its own process.
Latency is read from the events themselves (Confirmed.timestamp - Placed.timestamp, both stamped by this
machine's clock), so polling adds nothing to it.
"""

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from rich.console import Console
from rich.progress import Progress

from adapters.database import Database, create_database, drop_database
from adapters.event_log import notification_pages
from adapters.tokens import TokenIssuer
from commands.orders import Orders
from composition.migration import migrate
from scripts.bench_orders import SECRET, Measurement
from scripts.processes import background_process, logistics_process


def _events_by_order(orders: Orders, names: set[str]) -> dict[tuple[UUID, str], float]:
    stamps: dict[tuple[UUID, str], float] = {}
    for page in notification_pages(orders.recorder, page_size=1000):
        for notification in page:
            name = notification.topic.rsplit(".", 1)[-1]
            if name in names:
                event: Any = orders.mapper.to_domain_event(notification)
                stamps[(event.originator_id, name)] = event.timestamp.timestamp()
    return stamps


def bench_saga(server_url: str, count: int, concurrency: int, rate: float | None = None) -> Measurement:
    """With `rate`, orders are paced at that many per second; without, they are placed as fast as possible."""
    server = Database.from_url(server_url)
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    tokens = TokenIssuer(SECRET)
    try:
        migrate(database)
        env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET}
        with tempfile.TemporaryDirectory() as log_dir, \
                logistics_process(["command-api"], {**env, "LOGISTICS_DATA_DIR": log_dir}, Path(log_dir)) as api, \
                background_process(["worker"], {**env, "LOGISTICS_DATA_DIR": log_dir}, Path(log_dir)), \
                httpx.Client(base_url=api.base_url, timeout=30) as http, \
                Progress(console=Console(stderr=True), transient=True) as progress:
            admin = {"Authorization": f"Bearer {tokens.issue('admin', 'bench')}"}
            product = http.post("/api/products", headers=admin, json={
                "sku": "SAGA-1", "name": "Saga item", "price": "9.99", "initial_stock": 1_000_000}).json()["id"]
            customer = {"Authorization": f"Bearer {tokens.issue('customer', 'bench-customer')}"}
            body = {"items": [{"product_id": product, "quantity": 1}], "payment": {"token": "tok_ok"},
                    "delivery": {"address": "Jl. Benchmark 1", "lat": -6.2, "lng": 106.8}}
            task = progress.add_task("placing", total=count)

            def place(index: int) -> UUID:
                if rate:
                    time.sleep(max(0.0, started + index / rate - time.time()))
                response = http.post("/api/orders", json=body, headers=customer)
                response.raise_for_status()
                progress.advance(task)
                return UUID(response.json()["order_id"])

            started = time.time()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                order_ids = list(pool.map(place, range(count)))
            orders = Orders(env=database.eventsourcing_env(pool_size=1, max_overflow=1))
            try:
                confirming = progress.add_task("waiting for CONFIRMED", total=count)
                while True:
                    stamps = _events_by_order(orders, {"Placed", "Confirmed"})
                    confirmed = sum(1 for order_id in order_ids if (order_id, "Confirmed") in stamps)
                    progress.update(confirming, completed=confirmed)
                    if confirmed == count:
                        break
                    time.sleep(0.5)
            finally:
                orders.close()
        last = max(stamps[(order_id, "Confirmed")] for order_id in order_ids)
        latencies = [(stamps[(order_id, "Confirmed")] - stamps[(order_id, "Placed")]) * 1000 for order_id in order_ids]
        label = f"placed -> CONFIRMED at {rate:g}/s" if rate else "placed -> CONFIRMED, burst"
        return Measurement(label, count, last - started, latencies)
    finally:
        drop_database(server, database.dbname)
