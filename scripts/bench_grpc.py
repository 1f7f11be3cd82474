"""Benchmark: unary CreateOrder calls per second beside POST /api/orders, and commit -> stream latency at a rate.

Every process is real and separate (command API, gRPC face, worker, projector with its relay) on a fresh database
and a private RabbitMQ exchange, all with the default pool sizes.

1. Throughput: the same number of orders placed over each face by the same number of concurrent clients, in
   alternating rounds (gRPC, HTTP, gRPC, HTTP) so that both meet the same background (the saga and the
   projector working off what was placed before). Each call is timed from request to answer.
2. Latency: orders are placed over gRPC at a steady rate; each is followed with StreamOrderStatus at once and,
   when its first update arrived, cancelled. The clock runs from CancelOrder's answer (the cancellation is
   committed by then) to the CANCELLED update reaching the stream: projection, outbox, relay, RabbitMQ, the gRPC
   process's hub and the stream, as a client sees it. Both instants are taken here on one monotonic clock.
"""

import asyncio
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import grpc
import grpc.aio
import httpx
from rich.console import Console
from rich.table import Table

from adapters.bootstrap import migrate
from adapters.database import Database, create_database, drop_database
from adapters.tokens import TokenIssuer
from scripts.bench_orders import SECRET, Measurement
from scripts.bench_push import _delete_exchange, _settle, percentile
from scripts.processes import background_process, grpc_process, logistics_process
from web.grpc_api.generated import orders_pb2, orders_pb2_grpc

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
    """CancelOrder answered -> the CANCELLED update at the stream: the figure this part is about."""
    placed_to_first_ms: list[float] = field(default_factory=list)
    """CreateOrder answered -> the stream's first update (the stream opened and the order projected)."""
    to_outbox_ms: list[float] = field(default_factory=list)
    """CancelOrder answered -> the update's outbox row written (wall clocks of one machine)."""
    outbox_to_client_ms: list[float] = field(default_factory=list)
    missing: int = 0

    @property
    def achieved_rate(self) -> float:
        return self.placed / self.seconds if self.seconds else 0.0


@dataclass
class GrpcBench:
    throughput: list[Measurement]
    latency: StreamLatency
    concurrency: int


def _throughput(http: httpx.Client, target: str, tokens: TokenIssuer, product_id: str, count: int,
                concurrency: int, database: Database) -> list[Measurement]:
    customer = tokens.issue("customer", "bench-customer")
    body = {"items": [{"product_id": product_id, "quantity": 1}], "payment": {"token": "tok_ok"}, "delivery": _ADDRESS}
    request = orders_pb2.CreateOrderRequest(items=[orders_pb2.OrderItem(product_id=product_id, quantity=1)],
                                            payment=orders_pb2.Payment(token="tok_ok"),
                                            delivery=_DELIVERY)
    metadata = (("authorization", f"Bearer {customer}"),)
    with grpc.insecure_channel(target) as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)

        def over_grpc(_: int) -> None:
            stub.CreateOrder(request, metadata=metadata, timeout=30)

        def over_http(index: int) -> None:
            response = http.post("/api/orders", json=body, headers={"Authorization": f"Bearer {customer}"})
            if response.status_code != 202:
                raise RuntimeError(f"order {index}: {response.status_code} {response.text}")

        faces = {"gRPC CreateOrder (unary)": over_grpc, "HTTP POST /api/orders": over_http}
        for place in faces.values():
            place(-1)  # warm up connections and prepared statements outside the measurement
        timed: dict[str, list[float]] = {name: [] for name in faces}
        seconds: dict[str, float] = dict.fromkeys(faces, 0.0)
        per_round = max(1, count // ROUNDS)
        for _ in range(ROUNDS):
            for name, place in faces.items():
                _settle(database)
                latencies, took = _timed(place, per_round, concurrency)
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


@dataclass(frozen=True)
class _Cancelled:
    answered_wall: float
    arrived_wall: float
    position: int


async def _stream_latency(target: str, tokens: TokenIssuer, product_id: str, rate: float,
                          duration_s: float) -> tuple[StreamLatency, list[_Cancelled]]:
    result = StreamLatency(rate=rate, duration_s=duration_s, placed=max(1, round(rate * duration_s)))
    samples: list[_Cancelled] = []
    admin = (("authorization", f"Bearer {tokens.issue('admin', 'bench')}"),)
    request = orders_pb2.CreateOrderRequest(items=[orders_pb2.OrderItem(product_id=product_id, quantity=1)],
                                            payment=orders_pb2.Payment(token="tok_ok"),
                                            delivery=_DELIVERY)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def one(index: int) -> None:
            await asyncio.sleep(max(0.0, started + index / rate - loop.time()))
            customer = (("authorization", f"Bearer {tokens.issue('customer', f'bench-{index % _CUSTOMERS}')}"),)
            placed = await stub.CreateOrder(request, metadata=customer, timeout=30)
            placed_at = time.perf_counter()
            result.seconds = max(result.seconds, loop.time() - started)
            call = stub.StreamOrderStatus(orders_pb2.StreamOrderStatusRequest(order_id=placed.order_id),
                                          metadata=customer, timeout=120)
            first = asyncio.Event()
            cancelled: list[tuple[float, float, int]] = []

            async def read() -> None:
                async for update in call:
                    # Before anything else: what follows is the client's cost, not the platform's.
                    at, at_wall = time.perf_counter(), time.time()
                    if not first.is_set():
                        result.placed_to_first_ms.append((at - placed_at) * 1000)
                        first.set()
                    if update.status == orders_pb2.ORDER_STATUS_CANCELLED:
                        cancelled.append((at, at_wall, update.position))

            reader = asyncio.create_task(read())
            await asyncio.wait_for(first.wait(), 60)
            await stub.CancelOrder(orders_pb2.CancelOrderRequest(order_id=placed.order_id), metadata=admin, timeout=30)
            answered, answered_wall = time.perf_counter(), time.time()
            try:
                await asyncio.wait_for(reader, 60)
            except (TimeoutError, grpc.aio.AioRpcError):
                reader.cancel()
            if not cancelled:
                result.missing += 1
                return
            at, at_wall, position = cancelled[0]
            result.commit_to_stream_ms.append((at - answered) * 1000)
            samples.append(_Cancelled(answered_wall=answered_wall, arrived_wall=at_wall, position=position))

        await asyncio.gather(*(one(index) for index in range(result.placed)))
    return result, samples


def _split(database: Database, result: StreamLatency, samples: list[_Cancelled]) -> None:
    """Where the time went: until the projector wrote the outbox row, and from there to the client."""
    with database.connect() as connection:
        rows = connection.execute("SELECT id, extract(epoch FROM created_at) FROM read.outbox WHERE id = ANY(%s)",
                                  ([sample.position for sample in samples],)).fetchall()
    written = {int(row[0]): float(row[1]) for row in rows}
    for sample in samples:
        if sample.position in written:
            result.to_outbox_ms.append((written[sample.position] - sample.answered_wall) * 1000)
            result.outbox_to_client_ms.append((sample.arrived_wall - written[sample.position]) * 1000)


def bench_grpc(server_url: str, amqp_url: str, count: int, concurrency: int, rate: float,
               duration_s: float) -> GrpcBench:
    server = Database.from_url(server_url)
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    exchange = f"bench.grpc.{uuid4().hex[:10]}"
    tokens = TokenIssuer(SECRET)
    try:
        migrate(database)
        with tempfile.TemporaryDirectory() as log_dir:
            env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET, "LOGISTICS_AMQP_URL": amqp_url,
                   "LOGISTICS_AMQP_EXCHANGE": exchange, "LOGISTICS_DATA_DIR": log_dir,
                   "LOGISTICS_ENV_FILE": str(Path(log_dir) / "none")}
            logs = Path(log_dir)
            with logistics_process(["command-api"], env, logs) as api, grpc_process(env, logs) as face, \
                    background_process(["worker"], env, logs), background_process(["projector"], env, logs), \
                    httpx.Client(base_url=api.base_url, timeout=30, trust_env=False,
                                 limits=httpx.Limits(max_connections=concurrency)) as http:
                admin = {"Authorization": f"Bearer {tokens.issue('admin', 'bench')}"}
                product = http.post("/api/products", headers=admin, json={
                    "sku": "GRPC-1", "name": "gRPC item", "price": "1.00", "initial_stock": 1_000_000})
                product.raise_for_status()
                product_id = product.json()["id"]
                throughput = _throughput(http, face.grpc_target, tokens, product_id, count, concurrency, database)
                _settle(database)
                latency, samples = asyncio.run(_stream_latency(face.grpc_target, tokens, product_id, rate,
                                                               duration_s))
                _split(database, latency, samples)
        return GrpcBench(throughput=throughput, latency=latency, concurrency=concurrency)
    finally:
        drop_database(server, database.dbname)
        _delete_exchange(amqp_url, exchange)


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
                         "(CancelOrder answered -> CANCELLED on StreamOrderStatus)")
    for column in ("achieved /s", "orders", "missing", "p50 ms", "p95 ms", "p99 ms", "max ms", "p50 to outbox",
                   "p50 outbox to client", "p50 placed to first update"):
        stream.add_column(column, justify="right")
    values = latency.commit_to_stream_ms
    stream.add_row(f"{latency.achieved_rate:,.1f}", str(latency.placed), str(latency.missing),
                   f"{percentile(values, 50):.1f}", f"{percentile(values, 95):.1f}", f"{percentile(values, 99):.1f}",
                   f"{max(values, default=float('nan')):.1f}", f"{percentile(latency.to_outbox_ms, 50):.1f}",
                   f"{percentile(latency.outbox_to_client_ms, 50):.1f}",
                   f"{percentile(latency.placed_to_first_ms, 50):.1f}")
    console.print(stream)
    console.print("to outbox: the answer until the projector wrote the update's view row (outbox created_at, the "
                  "transaction's start); outbox to client: relay, RabbitMQ, the gRPC process's hub and stream.")
