"""Benchmark: from an order's HTTP answer to its first push frame at a WebSocket client, at several rates.

Every process is real and separate (command API, worker, projector with its relay, query API) on a fresh
database and a private RabbitMQ exchange. One WebSocket client follows the admin firehose. Orders are placed at
a steady rate; for each one the clock runs from the moment POST /api/orders answered to the moment the first
frame about that order reached the client. Both instants are taken in this process on one monotonic clock, so
the figure is what a user would see: projection, outbox, relay, RabbitMQ, the query API's hub and the socket.
"""

import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import httpx
import pika
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from adapters.database import Database, create_database, drop_database
from adapters.platform_status import platform_status
from adapters.tokens import TokenIssuer
from composition.migration import migrate
from scripts.bench_orders import SECRET
from scripts.processes import background_process, logistics_process

# Enough HTTP clients that pacing, not the clients, limits the rate (a placement takes a few milliseconds).
_PLACING_CLIENTS = 32
_SETTLE_LIMIT_S = 120.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class PushMeasurement:
    rate: float
    placed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    """HTTP answer -> first frame: the figure this benchmark is about."""
    projected_ms: list[float] = field(default_factory=list)
    """HTTP answer -> the frame's outbox row written (the projector's share; wall clocks of one machine)."""
    delivered_ms: list[float] = field(default_factory=list)
    """Outbox row written -> frame at the client (relay, RabbitMQ, the query API's hub and socket)."""
    missing: int = 0

    @property
    def achieved_rate(self) -> float:
        return self.placed / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


class FirehoseClient:
    """An operator's WebSocket on every view change; notes when the first frame about each order arrived."""

    def __init__(self, url: str) -> None:
        self.first_seen: dict[str, tuple[float, float, int]] = {}
        """order id -> (monotonic arrival, wall-clock arrival, the frame's outbox id)"""
        self.frames = 0
        self.closed: tuple[int, str] | None = None
        self._socket: ClientConnection = connect(url, open_timeout=10, close_timeout=5, proxy=None, legacy=True,
                                                 max_queue=4096)
        self._socket.send(json.dumps({"subscribe": "*"}))
        acknowledged = json.loads(self._socket.recv(timeout=10))
        if acknowledged != {"type": "subscribed", "subscription": "*"}:
            raise RuntimeError(f"the firehose was refused: {acknowledged}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-firehose", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                text = self._socket.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                self.closed = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
                return
            # Before decoding: decoding is the client's cost, not the platform's.
            arrived, arrived_wall = time.perf_counter(), time.time()
            self.frames += 1
            frame = json.loads(text)
            if frame.get("view") == "order":
                self.first_seen.setdefault(frame["entity_id"], (arrived, arrived_wall, frame["outbox_id"]))

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(10)


def _settle(database: Database, limit_s: float = _SETTLE_LIMIT_S) -> None:
    """Wait until every follower is at its head and the relay has sent everything: each rate starts quiet."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = platform_status(database)
        if status.relay.unsent == 0 and not any(f.lag_events for f in status.followers):
            return
        time.sleep(0.5)


def _written_at(database: Database, outbox_ids: list[int]) -> dict[int, float]:
    with database.connect() as connection:
        rows = connection.execute("SELECT id, extract(epoch FROM created_at) FROM read.outbox WHERE id = ANY(%s)",
                                  (outbox_ids,)).fetchall()
    return {int(row[0]): float(row[1]) for row in rows}


def bench_order(http: httpx.Client, tokens: TokenIssuer, sku: str, name: str) -> tuple[dict[str, str],
                                                                                    dict[str, object]]:
    """A product with stock for any run, and a bench customer's headers and order body for one of it."""
    admin = {"Authorization": f"Bearer {tokens.issue('admin', 'bench')}"}
    product = http.post("/api/products", headers=admin, json={
        "sku": sku, "name": name, "price": "1.00", "initial_stock": 1_000_000})
    product.raise_for_status()
    customer = {"Authorization": f"Bearer {tokens.issue('customer', 'bench-customer')}"}
    body: dict[str, object] = {
        "items": [{"product_id": product.json()["id"], "quantity": 1}], "payment": {"token": "tok_ok"},
        "delivery": {"address": "Jl. Benchmark 1", "lat": -6.2, "lng": 106.8}}
    return customer, body


def _measure(rate: float, duration_s: float, http: httpx.Client, customer: dict[str, str], body: dict[str, object],
             firehose: FirehoseClient, database: Database, progress: Progress) -> PushMeasurement:
    count = max(1, round(rate * duration_s))
    answered: dict[str, tuple[float, float]] = {}
    task = progress.add_task(f"{rate:g} orders/s", total=count)
    started = time.perf_counter()

    def place(index: int) -> None:
        time.sleep(max(0.0, started + index / rate - time.perf_counter()))
        response = http.post("/api/orders", json=body, headers=customer)
        response.raise_for_status()
        answered[response.json()["order_id"]] = (time.perf_counter(), time.time())
        progress.advance(task)

    with ThreadPoolExecutor(max_workers=_PLACING_CLIENTS) as pool:
        list(pool.map(place, range(count)))
    finished = time.perf_counter()
    measurement = PushMeasurement(rate=rate, placed=count, seconds=finished - started)
    deadline = time.monotonic() + 60
    while any(order_id not in firehose.first_seen for order_id in answered) and time.monotonic() < deadline:
        if firehose.closed is not None:
            raise RuntimeError(f"the query API closed the firehose: {firehose.closed}")
        time.sleep(0.1)
    seen = {order_id: firehose.first_seen[order_id] for order_id in answered if order_id in firehose.first_seen}
    written = _written_at(database, [outbox_id for _, _, outbox_id in seen.values()])
    for order_id, (at, at_wall) in answered.items():
        if order_id not in seen:
            measurement.missing += 1
            continue
        arrived, arrived_wall, outbox_id = seen[order_id]
        measurement.latencies_ms.append((arrived - at) * 1000)
        if outbox_id in written:
            measurement.projected_ms.append((written[outbox_id] - at_wall) * 1000)
            measurement.delivered_ms.append((arrived_wall - written[outbox_id]) * 1000)
    progress.remove_task(task)
    return measurement


def bench_push(server_url: str, amqp_url: str, rates: list[float], duration_s: float) -> list[PushMeasurement]:
    server = Database.from_url(server_url)
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    exchange = f"bench.push.{uuid4().hex[:10]}"
    tokens = TokenIssuer(SECRET)
    results: list[PushMeasurement] = []
    try:
        migrate(database)
        with tempfile.TemporaryDirectory() as log_dir:
            env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET, "LOGISTICS_AMQP_URL": amqp_url,
                   "LOGISTICS_AMQP_EXCHANGE": exchange, "LOGISTICS_DATA_DIR": log_dir,
                   "LOGISTICS_ENV_FILE": str(Path(log_dir) / "none")}
            logs = Path(log_dir)
            with logistics_process(["command-api"], env, logs) as api, \
                    background_process(["worker"], env, logs), \
                    background_process(["projector"], env, logs), \
                    logistics_process(["query-api"], env, logs) as query_api, \
                    httpx.Client(base_url=api.base_url, timeout=30, trust_env=False,
                                 limits=httpx.Limits(max_connections=_PLACING_CLIENTS)) as http, \
                    Progress(console=Console(stderr=True), transient=True) as progress:
                admin = tokens.issue("admin", "bench")
                customer, body = bench_order(http, tokens, "PUSH-1", "Push item")
                firehose = FirehoseClient(query_api.base_url.replace("http://", "ws://") + f"/ws?token={admin}")
                try:
                    for rate in rates:
                        _settle(database)
                        results.append(_measure(rate, duration_s, http, customer, body, firehose, database,
                                                progress))
                finally:
                    firehose.close()
        return results
    finally:
        drop_database(server, database.dbname)
        _delete_exchange(amqp_url, exchange)


def _delete_exchange(amqp_url: str, exchange: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.exchange_delete(exchange)
        channel.exchange_delete(f"{exchange}.dlx")
    finally:
        connection.close()


def report_push(results: list[PushMeasurement], duration_s: float) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped to a file: rich's 80 columns would truncate the figures
    table = Table(title=f"POST /api/orders answered -> first push frame at an admin firehose WebSocket "
                        f"({duration_s:g} s per rate)")
    for column in ("rate /s", "achieved /s", "orders", "missing", "p50 ms", "p95 ms", "p99 ms", "max ms",
                   "p50 to outbox", "p50 outbox to client"):
        table.add_column(column, justify="right")
    for result in results:
        worst = max(result.latencies_ms, default=float("nan"))
        table.add_row(f"{result.rate:g}", f"{result.achieved_rate:,.1f}", str(result.placed), str(result.missing),
                      f"{result.percentile(50):.1f}", f"{result.percentile(95):.1f}", f"{result.percentile(99):.1f}",
                      f"{worst:.1f}", f"{percentile(result.projected_ms, 50):.1f}",
                      f"{percentile(result.delivered_ms, 50):.1f}")
    console.print(table)
    console.print("to outbox: the answer until the projector wrote the view row (outbox created_at, the "
                    "transaction's start); outbox to client: relay, RabbitMQ, the query API's hub and socket.")


def parse_rates(text: str) -> list[float]:
    rates = [float(part) for part in text.split(",") if part.strip()]
    if not rates or any(rate <= 0 for rate in rates):
        raise ValueError("rates are positive numbers separated by commas, e.g. 10,50,200")
    return rates
