"""`logistics bench fleet`: fleet-scale courier tracking against the split deployment, in one run on a fresh database.

Every process is real and separate (command API, worker, projector with its relay, query API) on a private
RabbitMQ exchange. N couriers are registered, a product is stocked, and for `duration` seconds customers order
at R/s while the couriers report their positions at H Hz, pick up what they are given, drive it to its
destination and hand it over (`scripts.bench_fleet_load`). One operator follows the fleet socket and K
customers' order pages are open while their orders are under way (`scripts.bench_fleet_sockets`).

Reported (`scripts.bench_fleet_report`): reports offered and accepted per second; report -> frame latency at the
order pages and at the fleet socket; the events stored for the shipments carried, per courier-minute on a
shipment (read from the event store: it is what fleet scale costs the audit log); orders placed during the run
against those the saga confirmed; and the CPU seconds of each process, its PostgreSQL backends and the bench.
"""

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from uuid import UUID, uuid4

import httpx
from rich.console import Console

from adapters.database import Database, create_database, drop_database
from adapters.tokens import TokenIssuer
from composition.migration import migrate
from domain.base import event_topic
from domain.order import Order
from scripts.bench_fleet_figures import (
    Window,
    busy_seconds,
    event_name,
    match_frames,
    missing_reports,
    summarise,
)
from scripts.bench_fleet_load import FRAME_GRACE_S, FleetConfig, LoadOutcome, register_couriers, run_load
from scripts.bench_fleet_report import FleetResult, print_json, report_fleet
from scripts.bench_fleet_sockets import PushWatchers
from scripts.bench_orders import SECRET
from scripts.bench_push import _delete_exchange
from scripts.cpu_meter import CpuReading, cpu_spent, read_cpu
from scripts.processes import background_process, logistics_process

CUSTOMERS: Final = 20


@dataclass(frozen=True)
class _Mark:
    """Where the run stood at one instant: each process's CPU so far, and the shipping log's last position."""

    cpu: CpuReading
    last_event: int


def _mark(database: Database) -> _Mark:
    with database.connect() as connection:
        row = connection.execute("SELECT coalesce(max(notification_id), 0) FROM shipping.shipping_events").fetchone()
    return _Mark(read_cpu(database), int(row[0]) if row else 0)


def _seed_product(api_url: str, admin_token: str) -> str:
    with httpx.Client(base_url=api_url, timeout=30, trust_env=False) as http:
        product = http.post("/api/products", headers={"Authorization": f"Bearer {admin_token}"}, json={
            "sku": "FLEET-1", "name": "Fleet item", "price": "1.00", "initial_stock": 1_000_000})
        product.raise_for_status()
        return str(product.json()["id"])


def _events_by_name(database: Database, shipments: list[str], after: int, up_to: int) -> dict[str, int]:
    """Events stored between two positions of the shipping log for these shipments, counted by event name."""
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT topic, count(*) FROM shipping.shipping_events WHERE notification_id > %s "
            "AND notification_id <= %s AND originator_id = ANY(%s) GROUP BY topic",
            (after, up_to, [UUID(shipment) for shipment in shipments])).fetchall()
    counts: dict[str, int] = {}
    for topic, count in rows:
        counts[event_name(str(topic))] = counts.get(event_name(str(topic)), 0) + int(count)
    return counts


def _confirmed(database: Database, order_ids: list[str]) -> int:
    with database.connect() as connection:
        row = connection.execute(
            "SELECT count(DISTINCT originator_id) FROM orders.orders_events WHERE topic = %s "
            "AND originator_id = ANY(%s)",
            (event_topic(Order, "Confirmed"), [UUID(order_id) for order_id in order_ids])).fetchone()
    return int(row[0]) if row else 0


def _result(config: FleetConfig, outcome: LoadOutcome[_Mark], watchers: PushWatchers, confirmed: int,
            events_by_name: dict[str, int]) -> FleetResult:
    ledger, ended = outcome.ledger, outcome.ended
    order = match_frames(ledger, watchers.order_frames)
    fleet = match_frames(ledger, watchers.fleet_frames)
    fleet_windows = ([] if watchers.fleet_since is None else
                     [Window(courier, watchers.fleet_since, ended) for courier in ledger.couriers()])
    return FleetResult(
        config=config, driving_s=outcome.driving_s, tally=outcome.tally, confirmed=confirmed,
        order_page=summarise(order.latencies_ms, missing_reports(ledger, watchers.order_windows(ended),
                                                                 order.matched)),
        fleet=summarise(fleet.latencies_ms, missing_reports(ledger, fleet_windows, fleet.matched)),
        unmatched_frames=order.unmatched_frames + fleet.unmatched_frames,
        courier_minutes=busy_seconds(outcome.trips, outcome.started, ended) / 60.0,
        events_by_name=events_by_name,
        cpu_s=cpu_spent(outcome.start_mark.cpu, outcome.end_mark.cpu),
        socket_failures=list(watchers.failures))


def bench_fleet(config: FleetConfig, server_url: str, amqp_url: str, console: Console) -> FleetResult:
    server = Database.from_url(server_url)
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    exchange = f"bench.fleet.{uuid4().hex[:10]}"
    tokens = TokenIssuer(SECRET)
    try:
        migrate(database)
        with tempfile.TemporaryDirectory() as log_dir:
            logs = Path(log_dir)
            env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET, "LOGISTICS_AMQP_URL": amqp_url,
                   "LOGISTICS_AMQP_EXCHANGE": exchange, "LOGISTICS_DATA_DIR": log_dir,
                   "LOGISTICS_ENV_FILE": str(logs / "none")}
            with logistics_process(["command-api"], env, logs) as api, \
                    background_process(["worker"], env, logs), \
                    background_process(["projector"], env, logs), \
                    logistics_process(["query-api"], env, logs) as query_api:
                admin = tokens.issue("admin", "bench")
                product_id = _seed_product(api.base_url, admin)
                console.print(f"registering {config.couriers} couriers")
                couriers = asyncio.run(register_couriers(api.base_url, admin, config.couriers, config.centre,
                                                         config.radius_km, random.Random(config.seed)))
                customers = [tokens.issue("customer", f"bench-customer-{n}") for n in range(CUSTOMERS)]
                watchers = PushWatchers(query_api.base_url)
                try:
                    try:
                        watchers.watch_fleet(admin)
                    except (RuntimeError, TimeoutError) as refused:
                        watchers.failures.append(str(refused))  # the other figures are still worth having
                    console.print(f"driving for {config.duration_s:g} s")
                    outcome = asyncio.run(run_load(config, api.base_url, database.url, couriers, product_id,
                                                   customers, watchers, lambda: _mark(database)))
                    time.sleep(FRAME_GRACE_S)  # frames of the last reports are still on their way
                finally:
                    watchers.close()
                confirmed = _confirmed(database, outcome.placed)
                events = _events_by_name(database, outcome.carried, outcome.start_mark.last_event,
                                         outcome.end_mark.last_event)
        return _result(config, outcome, watchers, confirmed, events)
    finally:
        drop_database(server, database.dbname)
        _delete_exchange(amqp_url, exchange)


def run_bench_fleet(config: FleetConfig, server_url: str, amqp_url: str, as_json: bool) -> int:
    """`logistics bench fleet`: run, then print the tables (or the JSON, with progress on stderr)."""
    result = bench_fleet(config, server_url, amqp_url, Console(stderr=True))
    if as_json:
        print_json(result)
    else:
        report_fleet(result)
    return 0
