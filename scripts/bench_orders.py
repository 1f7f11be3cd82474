"""Benchmark: orders placed per second over HTTP, beside bare eventsourcing saves of the same orders.

Both run in the same process run against the same PostgreSQL server, each in a fresh database, so the gap
between them is what the HTTP API, validation, catalog look-ups and authentication cost.
"""

import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters.database import Database, create_database, drop_database
from adapters.tokens import TokenIssuer
from commands.orders import Orders
from domain.values import DeliveryAddress, OrderLine
from scripts.processes import logistics_process

SECRET = "benchmark-secret-that-is-long-enough-for-hs256"


@dataclass(frozen=True)
class Measurement:
    name: str
    count: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _timed_runs(name: str, count: int, concurrency: int, action: Callable[[int], None],
                progress: Progress) -> Measurement:
    task = progress.add_task(name, total=count)
    latencies: list[float] = []

    def one(index: int) -> None:
        started = time.perf_counter()
        action(index)
        latencies.append((time.perf_counter() - started) * 1000)
        progress.advance(task)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    return Measurement(name, count, time.perf_counter() - started, latencies)


def bench_http(database: Database, count: int, concurrency: int, progress: Progress) -> Measurement:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DB_POOL_SIZE": str(concurrency), "LOGISTICS_DB_MAX_OVERFLOW": str(concurrency)}
    tokens = TokenIssuer(SECRET)
    with tempfile.TemporaryDirectory() as log_dir, \
            logistics_process(["command-api"], {**env, "LOGISTICS_DATA_DIR": log_dir}, Path(log_dir)) as api:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        with httpx.Client(base_url=api.base_url, timeout=30, limits=limits) as http:
            admin = {"Authorization": f"Bearer {tokens.issue('admin', 'bench')}"}
            product = http.post("/api/products", headers=admin, json={
                "sku": "BENCH-1", "name": "Benchmark item", "price": "9.99", "initial_stock": 1_000_000})
            product.raise_for_status()
            body = {"items": [{"product_id": product.json()["id"], "quantity": 1}], "payment": {"token": "tok_ok"},
                    "delivery": {"address": "Jl. Benchmark 1", "lat": -6.2, "lng": 106.8}}
            customer = {"Authorization": f"Bearer {tokens.issue('customer', 'bench-customer')}"}

            def place(index: int) -> None:
                response = http.post("/api/orders", json=body, headers=customer)
                if response.status_code != 202:
                    raise RuntimeError(f"order {index}: {response.status_code} {response.text}")

            place(-1)  # warm up connections and prepared statements outside the measurement
            return _timed_runs("HTTP POST /api/orders", count, concurrency, place, progress)


def bench_bare_saves(database: Database, count: int, concurrency: int, progress: Progress) -> Measurement:
    from composition.migration import migrate

    migrate(database)
    orders = Orders(env=database.eventsourcing_env(pool_size=concurrency, max_overflow=concurrency))
    try:
        line = [OrderLine(uuid4(), 1, Decimal("9.99"))]
        delivery = DeliveryAddress("Jl. Benchmark 1", -6.2, 106.8)

        def save(_: int) -> None:
            orders.place_order("bench-customer", line, "tok_ok", delivery)

        save(-1)
        return _timed_runs("bare eventsourcing save", count, concurrency, save, progress)
    finally:
        orders.close()


def run(server_url: str, count: int, concurrency: int) -> list[Measurement]:
    server = Database.from_url(server_url)
    results = []
    with Progress(console=Console(stderr=True), transient=True) as progress:
        for bench in (bench_http, bench_bare_saves):
            database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
            try:
                results.append(bench(database, count, concurrency, progress))
            finally:
                drop_database(server, database.dbname)
    return results


def report(results: list[Measurement], concurrency: int) -> None:
    table = Table(title=f"Placing orders ({results[0].count} each, {concurrency} concurrent clients)")
    for column in ("path", "orders/s", "p50 ms", "p99 ms", "mean ms"):
        table.add_column(column, justify="right" if column != "path" else "left")
    for result in results:
        table.add_row(result.name, f"{result.per_second:,.0f}", f"{result.percentile(50):.2f}",
                      f"{result.percentile(99):.2f}", f"{statistics.fmean(result.latencies_ms):.2f}")
    Console().print(table)
