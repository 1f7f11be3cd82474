"""Benchmark: unary CreateOrder calls per second beside POST /api/orders, and commit -> stream latency at a rate.

Every process is real and separate, with the default pool sizes, on a fresh database and a private RabbitMQ
exchange for each part.

1. Latency: orders are placed over gRPC at a steady rate, each followed with StreamOrderStatus at once. The saga
   confirms them; the clock runs from the confirmation's event being recorded (its timestamp, carried by the
   view message: the worker's transaction commits right after) to the CONFIRMED update reaching the stream:
   projection, outbox, relay, RabbitMQ, the gRPC process's hub and the stream, as a client sees it. An order
   already confirmed when its stream opened has no live change to time and is counted apart. Wall clocks of one
   machine.
2. Throughput: the same number of orders placed over each face (the command API and the gRPC face running side
   by side, nothing else) by the same number of concurrent clients, in alternating rounds (gRPC, HTTP, gRPC,
   HTTP) so that both meet the same database. Each call is timed from request to answer.
"""

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import grpc
import grpc.aio
import httpx
from rich.console import Console
from rich.table import Table

from adapters.database import Database, create_database, drop_database
from adapters.tokens import TokenIssuer
from composition.migration import migrate
from scripts.bench_orders import SECRET, Measurement
from scripts.bench_push import _delete_exchange, _settle, percentile
from scripts.processes import background_process, grpc_process, logistics_process
from web.grpc_api.generated import orders_pb2, orders_pb2_grpc, products_pb2, products_pb2_grpc

ROUNDS = 2
_CUSTOMERS = 50
_ADDRESS = {"address": "Jl. Benchmark 1", "lat": -6.2, "lng": 106.8}
_DELIVERY = orders_pb2.Delivery(address="Jl. Benchmark 1", lat=-6.2, lng=106.8)


@dataclass
class StreamLatency:
    rate: float
    duration_s: float
    placed: int = 0
    seconds: float = 0.0
    """From the first placement to the last: the rate achieved is placed / seconds."""
    commit_to_stream_ms: list[float] = field(default_factory=list)
    """The confirmation's event recorded -> its update at the stream: the figure this part is about."""
    placed_to_first_ms: list[float] = field(default_factory=list)
    """CreateOrder answered -> the stream's first update (the stream opened and the order projected)."""
    to_outbox_ms: list[float] = field(default_factory=list)
    """The event recorded -> the update's outbox row written."""
    outbox_to_client_ms: list[float] = field(default_factory=list)
    confirmed_before_followed: int = 0
    """Orders whose first update was CONFIRMED already: no live change to time."""
    missing: int = 0

    @property
    def achieved_rate(self) -> float:
        return self.placed / self.seconds if self.seconds else 0.0


@dataclass
class GrpcBench:
    throughput: list[Measurement]
    latency: StreamLatency
    concurrency: int


def _throughput(http: httpx.Client, target: str, tokens: TokenIssuer, count: int,
                concurrency: int) -> list[Measurement]:
    admin = {"Authorization": f"Bearer {tokens.issue('admin', 'bench')}"}
    product = http.post("/api/products", headers=admin, json={
        "sku": "BENCH-1", "name": "Benchmark item", "price": "1.00", "initial_stock": 1_000_000})
    product.raise_for_status()
    product_id = product.json()["id"]
    customer = tokens.issue("customer", "bench-customer")
    body = {"items": [{"product_id": product_id, "quantity": 1}], "payment": {"token": "tok_ok"}, "delivery": _ADDRESS}
    request = orders_pb2.CreateOrderRequest(items=[orders_pb2.OrderItem(product_id=product_id, quantity=1)],
                                            payment=orders_pb2.Payment(token="tok_ok"), delivery=_DELIVERY)
    metadata = (("authorization", f"Bearer {customer}"),)
    with grpc.insecure_channel(target) as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)

        def over_grpc(_: int) -> None:
            stub.CreateOrder(request, metadata=metadata, timeout=30)

        def over_http(index: int) -> None:
            response = http.post("/api/orders", json=body, headers={"Authorization": f"Bearer {customer}"})
            if response.status_code != 202:
                raise RuntimeError(f"order {index}: {response.status_code} {response.text}")

        faces: dict[str, Callable[[int], None]] = {"gRPC CreateOrder (unary)": over_grpc,
                                                   "HTTP POST /api/orders": over_http}
        for place in faces.values():
            place(-1)  # connections and prepared statements, outside the measurement
        timed: dict[str, list[float]] = {name: [] for name in faces}
        seconds: dict[str, float] = dict.fromkeys(faces, 0.0)
        for _ in range(ROUNDS):
            for name, place in faces.items():
                latencies, took = _timed(place, max(1, count // ROUNDS), concurrency)
                timed[name].extend(latencies)
                seconds[name] += took
    return [Measurement(name, len(timed[name]), seconds[name], timed[name]) for name in faces]


def _timed(action: Callable[[int], None], count: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []

    def one(index: int) -> None:
        started = time.perf_counter()
        action(index)
        latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    return latencies, time.perf_counter() - started


async def _stream_latency(target: str, tokens: TokenIssuer, product_id: str, rate: float,
                          duration_s: float) -> tuple[StreamLatency, dict[int, float]]:
    """The measurement, and when (wall clock) each timed CONFIRMED update, by its position, reached the client."""
    result = StreamLatency(rate=rate, duration_s=duration_s, placed=max(1, round(rate * duration_s)))
    arrivals: dict[int, float] = {}
    callers = [(("authorization", f"Bearer {tokens.issue('customer', f'bench-{index}')}"),)
               for index in range(_CUSTOMERS)]
    request = orders_pb2.CreateOrderRequest(items=[orders_pb2.OrderItem(product_id=product_id, quantity=1)],
                                            payment=orders_pb2.Payment(token="tok_ok"), delivery=_DELIVERY)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def follow(call: "grpc.aio.UnaryStreamCall[orders_pb2.StreamOrderStatusRequest, "
                               "orders_pb2.OrderStatusUpdate]", placed_at: float) -> None:
            first = True
            async for update in call:
                # Before anything else: what follows is the client's cost, not the platform's.
                at, at_wall = time.perf_counter(), time.time()
                if first:
                    first = False
                    result.placed_to_first_ms.append((at - placed_at) * 1000)
                    if update.status == orders_pb2.ORDER_STATUS_CONFIRMED:
                        result.confirmed_before_followed += 1
                        return
                elif update.status == orders_pb2.ORDER_STATUS_CONFIRMED:
                    arrivals[update.position] = at_wall
                    return
            result.missing += 1  # ended without a confirmation (it cannot: nothing here cancels)

        async def one(index: int) -> None:
            await asyncio.sleep(max(0.0, started + index / rate - loop.time()))
            customer = callers[index % _CUSTOMERS]
            placed = await stub.CreateOrder(request, metadata=customer, timeout=30)
            placed_at = time.perf_counter()
            result.seconds = max(result.seconds, loop.time() - started)
            call = stub.StreamOrderStatus(orders_pb2.StreamOrderStatusRequest(order_id=placed.order_id),
                                          metadata=customer, timeout=120)
            try:
                await asyncio.wait_for(follow(call, placed_at), 60)
            except (TimeoutError, grpc.aio.AioRpcError):
                result.missing += 1
            finally:
                call.cancel()  # the order waits for a courier now: nothing more to see

        await asyncio.gather(*(one(index) for index in range(result.placed)))
    return result, arrivals


def _from_commit(database: Database, result: StreamLatency, arrivals: dict[int, float]) -> None:
    """From each confirmation's event (its time is in the view message) to the client, and where the time went."""
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT id, extract(epoch FROM (body ->> 'occurred_at')::timestamptz), extract(epoch FROM created_at) "
            "FROM read.outbox WHERE id = ANY(%s)", (list(arrivals),)).fetchall()
    for outbox_id, occurred_at, written_at in rows:
        arrived = arrivals[int(outbox_id)]
        result.commit_to_stream_ms.append((arrived - float(occurred_at)) * 1000)
        result.to_outbox_ms.append((float(written_at) - float(occurred_at)) * 1000)
        result.outbox_to_client_ms.append((arrived - float(written_at)) * 1000)


@contextmanager
def _platform(server: Database, amqp_url: str, log_dir: Path) -> Iterator[tuple[Database, dict[str, str]]]:
    """A fresh database and private exchange, and the settings that point the processes at them; removed after."""
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    exchange = f"bench.grpc.{uuid4().hex[:10]}"
    try:
        migrate(database)
        yield database, {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
                         "LOGISTICS_AMQP_URL": amqp_url, "LOGISTICS_AMQP_EXCHANGE": exchange,
                         "LOGISTICS_DATA_DIR": str(log_dir), "LOGISTICS_ENV_FILE": str(log_dir / "none")}
    finally:
        drop_database(server, database.dbname)
        _delete_exchange(amqp_url, exchange)


def bench_grpc(server_url: str, amqp_url: str, count: int, concurrency: int, rate: float,
               duration_s: float) -> GrpcBench:
    server = Database.from_url(server_url)
    tokens = TokenIssuer(SECRET)
    with tempfile.TemporaryDirectory() as log_dir:
        logs = Path(log_dir)
        # Throughput: the two faces alone, as `logistics bench orders` measures the HTTP API alone (the saga and
        # the projector would spend the same cores on what was placed, whichever face placed it).
        with _platform(server, amqp_url, logs) as (_, env), logistics_process(["command-api"], env, logs) as api, \
                grpc_process(env, logs) as face, \
                httpx.Client(base_url=api.base_url, timeout=30, trust_env=False,
                             limits=httpx.Limits(max_connections=concurrency)) as http:
            throughput = _throughput(http, face.grpc_target, tokens, count, concurrency)
        # Latency: the gRPC face with the saga's worker and the projector and its relay, on a platform of its own.
        with _platform(server, amqp_url, logs) as (database, env), grpc_process(env, logs) as face, \
                background_process(["worker"], env, logs), background_process(["projector"], env, logs):
            product_id = _grpc_product(face.grpc_target, tokens)
            # A few orders followed to their confirmation first: every runner, the relay and the feed are up and
            # warm, and the platform is quiet again when the clock starts.
            warm_up, _ = asyncio.run(_stream_latency(face.grpc_target, tokens, product_id, 5.0, 1.0))
            if warm_up.missing:
                raise RuntimeError("the platform did not confirm and stream the warm-up orders")
            _settle(database)
            latency, arrivals = asyncio.run(_stream_latency(face.grpc_target, tokens, product_id, rate, duration_s))
            _from_commit(database, latency, arrivals)
    return GrpcBench(throughput=throughput, latency=latency, concurrency=concurrency)


def _grpc_product(target: str, tokens: TokenIssuer) -> str:
    with grpc.insecure_channel(target) as channel:
        created = products_pb2_grpc.ProductServiceStub(channel).CreateProduct(
            products_pb2.CreateProductRequest(sku="STREAM-1", name="Streamed item", price="1.00",
                                              initial_stock=1_000_000),
            metadata=(("authorization", f"Bearer {tokens.issue('admin', 'bench')}"),), timeout=30)
    return str(created.product.id)


def report_grpc(bench: GrpcBench) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped to a file: rich's 80 columns would truncate the figures
    table = Table(title=f"Placing orders, the same run ({bench.throughput[0].count} each over {ROUNDS} alternating "
                        f"rounds, {bench.concurrency} concurrent clients)")
    for column in ("face", "orders/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "face" else "left")
    for result in bench.throughput:
        table.add_row(result.name, f"{result.per_second:,.0f}", f"{result.percentile(50):.2f}",
                      f"{result.percentile(95):.2f}", f"{result.percentile(99):.2f}")
    console.print(table)
    latency = bench.latency
    stream = Table(title=f"Commit -> stream message at {latency.rate:g} orders/s for {latency.duration_s:g} s "
                         "(the confirmation recorded -> CONFIRMED on StreamOrderStatus)")
    for column in ("achieved /s", "orders", "timed", "confirmed first", "missing", "p50 ms", "p95 ms", "p99 ms",
                   "max ms", "p50 to outbox", "p50 outbox to client", "p50 placed to first update"):
        stream.add_column(column, justify="right")
    values = latency.commit_to_stream_ms
    stream.add_row(f"{latency.achieved_rate:,.1f}", str(latency.placed), str(len(values)),
                   str(latency.confirmed_before_followed), str(latency.missing),
                   f"{percentile(values, 50):.1f}", f"{percentile(values, 95):.1f}", f"{percentile(values, 99):.1f}",
                   f"{max(values, default=float('nan')):.1f}", f"{percentile(latency.to_outbox_ms, 50):.1f}",
                   f"{percentile(latency.outbox_to_client_ms, 50):.1f}",
                   f"{percentile(latency.placed_to_first_ms, 50):.1f}")
    console.print(stream)
    console.print("confirmed first: the stream's first update was CONFIRMED already (nothing live to time). To outbox: "
                  "the event until the projector wrote the view row (outbox created_at, the transaction's start); "
                  "outbox to client: relay, RabbitMQ, the gRPC process's hub and stream.")
