"""`logistics bench pipeline`: the live pipeline against the front door, in one run on a fresh database.

The split deployment runs as separate processes (command API, worker, projector with its relay, query API) on
a private RabbitMQ exchange. In one run this measures:

1. the HTTP placement rate: a burst of orders placed as fast as `concurrency` clients can;
2. placement -> CONFIRMED for that burst: from the first placement to the last confirmation, as orders per
   second and as a ratio of the placement rate (the saga keeps pace when it is near 1), with the latency of
   each order read from its own events (Confirmed.timestamp - Placed.timestamp);
3. push latency, HTTP answer -> first WebSocket frame at an operator's firehose, at paced rates;
4. the most PostgreSQL connections each process held throughout (pg_stat_activity);
5. CPU milliseconds per order of the burst, for each process and for its PostgreSQL backends: on shared cores
   the figure that says which process bounds the rate.
"""

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters.database import Database, create_database, drop_database
from adapters.tokens import TokenIssuer
from commands.orders import Orders
from composition.migration import migrate
from scripts.bench_orders import SECRET
from scripts.bench_push import (
    FirehoseClient,
    PushMeasurement,
    _delete_exchange,
    _measure,
    _settle,
    bench_order,
    percentile,
)
from scripts.bench_saga import _events_by_order
from scripts.connection_sampler import ConnectionSampler
from scripts.cpu_meter import cpu_spent, read_cpu
from scripts.processes import background_process, logistics_process

CONFIRM_LIMIT_S = 600.0


@dataclass
class PipelineResult:
    placed: int = 0
    placing_s: float = 0.0
    confirmed_s: float = 0.0
    """From the first placement to the last confirmation."""
    confirm_latencies_ms: list[float] = field(default_factory=list)
    push: list[PushMeasurement] = field(default_factory=list)
    connections: dict[str, int] = field(default_factory=dict)
    cpu_s: dict[tuple[str, str], float] = field(default_factory=dict)
    """CPU seconds spent from the burst's start to its last confirmation, per (command, process or postgres)."""

    @property
    def placement_rate(self) -> float:
        return self.placed / self.placing_s if self.placing_s else 0.0

    @property
    def confirmed_rate(self) -> float:
        return self.placed / self.confirmed_s if self.confirmed_s else 0.0


def _burst(http: httpx.Client, customer: dict[str, str], body: dict[str, object], count: int, concurrency: int,
           progress: Progress) -> tuple[list[UUID], float, float]:
    task = progress.add_task("placing", total=count)

    def place(_: int) -> UUID:
        response = http.post("/api/orders", json=body, headers=customer)
        response.raise_for_status()
        progress.advance(task)
        return UUID(response.json()["order_id"])

    started_wall, started = time.time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        order_ids = list(pool.map(place, range(count)))
    progress.remove_task(task)
    return order_ids, started_wall, time.perf_counter() - started


def _confirmations(database: Database, order_ids: list[UUID], progress: Progress) -> dict[tuple[UUID, str], float]:
    orders = Orders(env=database.eventsourcing_env(pool_size=1, max_overflow=0))
    task = progress.add_task("waiting for CONFIRMED", total=len(order_ids))
    deadline = time.monotonic() + CONFIRM_LIMIT_S
    try:
        while True:
            stamps = _events_by_order(orders, {"Placed", "Confirmed"})
            confirmed = sum(1 for order_id in order_ids if (order_id, "Confirmed") in stamps)
            progress.update(task, completed=confirmed)
            if confirmed == len(order_ids) or time.monotonic() > deadline:
                return stamps
            time.sleep(0.5)
    finally:
        orders.close()
        progress.remove_task(task)


def bench_pipeline(server_url: str, amqp_url: str, count: int, concurrency: int, rates: list[float],
                   duration_s: float) -> PipelineResult:
    server = Database.from_url(server_url)
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    exchange = f"bench.pipeline.{uuid4().hex[:10]}"
    tokens = TokenIssuer(SECRET)
    result = PipelineResult()
    try:
        migrate(database)
        with tempfile.TemporaryDirectory() as log_dir, ConnectionSampler(database) as sampler:
            logs = Path(log_dir)
            env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET, "LOGISTICS_AMQP_URL": amqp_url,
                   "LOGISTICS_AMQP_EXCHANGE": exchange, "LOGISTICS_DATA_DIR": log_dir,
                   "LOGISTICS_ENV_FILE": str(logs / "none")}
            with logistics_process(["command-api"], env, logs) as api, \
                    background_process(["worker"], env, logs), \
                    background_process(["projector"], env, logs), \
                    logistics_process(["query-api"], env, logs) as query_api, \
                    httpx.Client(base_url=api.base_url, timeout=60, trust_env=False,
                                 limits=httpx.Limits(max_connections=64)) as http, \
                    Progress(console=Console(stderr=True), transient=True) as progress:
                admin = tokens.issue("admin", "bench")
                customer, body = bench_order(http, tokens, "PIPE-1", "Pipeline item")
                cpu_before = read_cpu(database)
                order_ids, started_wall, result.placing_s = _burst(http, customer, body, count, concurrency,
                                                                    progress)
                result.placed = len(order_ids)
                stamps = _confirmations(database, order_ids, progress)
                result.cpu_s = cpu_spent(cpu_before, read_cpu(database))
                confirmed = [order_id for order_id in order_ids if (order_id, "Confirmed") in stamps]
                if len(confirmed) < len(order_ids):
                    raise RuntimeError(f"only {len(confirmed)} of {len(order_ids)} orders were confirmed in "
                                       f"{CONFIRM_LIMIT_S:g} s")
                result.confirmed_s = max(stamps[(order_id, "Confirmed")] for order_id in order_ids) - started_wall
                result.confirm_latencies_ms = [
                    (stamps[(order_id, "Confirmed")] - stamps[(order_id, "Placed")]) * 1000 for order_id in order_ids]
                firehose = FirehoseClient(query_api.base_url.replace("http://", "ws://") + f"/ws?token={admin}")
                try:
                    for rate in rates:
                        _settle(database)
                        result.push.append(_measure(rate, duration_s, http, customer, body, firehose, database,
                                                    progress))
                finally:
                    firehose.close()
            result.connections = dict(sampler.most)
        return result
    finally:
        drop_database(server, database.dbname)
        _delete_exchange(amqp_url, exchange)


def report_pipeline(result: PipelineResult, concurrency: int, duration_s: float) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    table = Table(title=f"The pipeline against the front door: a burst of {result.placed} orders, {concurrency} "
                        "HTTP clients, every process local")
    for column in ("measure", "orders/s", "of placement", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("POST /api/orders answered", f"{result.placement_rate:,.0f}", "1.00", "", "", "")
    latencies = result.confirm_latencies_ms
    table.add_row("placed -> CONFIRMED", f"{result.confirmed_rate:,.0f}",
                  f"{result.confirmed_rate / result.placement_rate:.2f}" if result.placement_rate else "-",
                  f"{percentile(latencies, 50):,.0f}", f"{percentile(latencies, 95):,.0f}",
                  f"{percentile(latencies, 99):,.0f}")
    for push in result.push:
        table.add_row(f"answer -> push frame at {push.rate:g}/s (achieved {push.achieved_rate:,.0f}/s, "
                      f"{push.missing} missing)", "", "", f"{push.percentile(50):,.0f}", f"{push.percentile(95):,.0f}",
                      f"{push.percentile(99):,.0f}")
        for share, figures in (("answer -> outbox row (projector)", push.projected_ms),
                               ("outbox row -> frame (relay, broker, hub)", push.delivered_ms)):
            table.add_row(f"  of which {share}", "", "", f"{percentile(figures, 50):,.0f}",
                          f"{percentile(figures, 95):,.0f}", f"{percentile(figures, 99):,.0f}")
    console.print(table)
    per_process = Table(title="Per process: most PostgreSQL connections held; CPU ms per order of the burst")
    for column in ("process", "connections", "CPU ms/order", "its PostgreSQL backends ms/order"):
        per_process.add_column(column, justify="left" if column == "process" else "right")
    for process, most in sorted(result.connections.items()):
        spent = [result.cpu_s.get((process, kind), 0.0) * 1000 / max(result.placed, 1)
                 for kind in ("process", "postgres")]
        per_process.add_row(process, str(most), f"{spent[0]:.1f}", f"{spent[1]:.1f}")
    console.print(per_process)
    console.print(f"push rates ran {duration_s:g} s each; CONFIRMED latency includes the wait behind the burst.")
