"""`logistics chaos`: the split deployment under faults, then a reckoning of what survived.

On a fresh database (a private PostgreSQL server the runner starts, so that restarting it disturbs no one, or a
fresh database on `--database-url`'s server, without the PostgreSQL restart) and a private exchange on
`--amqp-url`'s RabbitMQ, the runner starts the command API, query API, worker and projector as separate processes,
seeds products and couriers, and places orders at a steady pace while it injects faults at seeded moments (printed
up front): SIGKILL of each process (restarted at once, as a container runtime would), a RabbitMQ stop_app/start_app,
a PostgreSQL restart, a 10 s SIGSTOP of the broker. Then it waits for quiet and reports (`scripts.chaos_report`).
"""

import logging
import os
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from uuid import UUID, uuid4

import pika
from rich.console import Console
from rich.table import Table

from adapters.database import Database, create_database, drop_database
from adapters.rabbitmq import RabbitMQBroker
from adapters.rabbitmq_topology import dead_letter_queue_name
from adapters.tokens import TokenIssuer
from composition.migration import migrate
from scripts.chaos_faults import FAULT_KINDS, Deployment, FaultInjector, FaultOutcome, PlannedFault, fault_schedule
from scripts.chaos_load import COURIER_SPEED_KMH, Couriers, Customers, client, seed_catalog
from scripts.chaos_report import (
    ChaosReport,
    MessageTally,
    compare_with_rebuild,
    count_messages,
    count_orders,
    fault_record,
    outbox_ids,
    read_model_orders,
    read_store,
    render,
)
from scripts.processes import LOGISTICS, ROOT
from scripts.simulate import bearer

SECRET: Final = "chaos-secret-that-is-long-enough-for-hs256-signing"
DEFAULT_AMQP_URL: Final = "amqp://guest:guest@127.0.0.1:5672/%2F"


@dataclass(frozen=True)
class ChaosConfig:
    orders: int = 1000
    rate: float = 4.0
    """Orders per second."""
    seed: int = 1
    faults: tuple[str, ...] = FAULT_KINDS
    repeat: int | None = None
    """Faults of each kind; None: one for up to 200 orders, else three."""
    couriers: int = 8
    amqp_url: str = DEFAULT_AMQP_URL
    database_url: str | None = None
    """A server to make a fresh database on; None: a private embedded PostgreSQL server (restartable)."""
    settle_s: float = 120.0
    """After the last order and the last fault, how long orders may take to become final."""
    log_dir: Path | None = None

    @property
    def repeats(self) -> int:
        return self.repeat if self.repeat is not None else (1 if self.orders <= 200 else 3)


@contextmanager
def fresh_database(config: ChaosConfig, work: Path) -> Iterator[tuple[Database, Callable[[], None] | None]]:
    """The database to run on, and how to restart its server (None when it is someone else's server)."""
    if config.database_url:
        server = Database.from_url(config.database_url)
        database = create_database(server, f"logistics_chaos_{uuid4().hex[:10]}")
        try:
            yield database, None
        finally:
            drop_database(server, database.dbname)
    else:
        from scripts.private_postgres import PrivateServer

        private = PrivateServer(work / "pg")
        try:
            yield private.database, private.restart
        finally:
            private.close()


@contextmanager
def exchange_consumer(amqp_url: str, exchange: str) -> Iterator[MessageTally]:
    """A durable quorum queue bound to everything on the run's exchange, counting each message id's copies."""
    tally = MessageTally()
    broker = RabbitMQBroker(amqp_url, exchange=exchange, connection_name=exchange)
    queue = f"{exchange}.tally"
    try:
        broker.declare_topology()
        subscription = broker.subscribe(["#"], tally, queue=queue)
        if not subscription.wait_until_consuming(30):
            raise RuntimeError("the runner's consumer never started")
        yield tally
    finally:
        broker.close()
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            for name in (queue, dead_letter_queue_name(queue)):
                channel.queue_delete(name)
            channel.exchange_delete(exchange)
            channel.exchange_delete(f"{exchange}.dlx")
        finally:
            connection.close()


def print_schedule(console: Console, schedule: list[PlannedFault], config: ChaosConfig) -> None:
    table = Table(title=f"Fault schedule (seed {config.seed}; seconds after the first order; "
                        f"{config.orders} orders at {config.rate:g}/s)")
    table.add_column("#", justify="right")
    table.add_column("fault")
    table.add_column("at s", justify="right")
    for number, fault in enumerate(schedule, 1):
        table.add_row(str(number), fault.kind, f"{fault.at_s:.1f}")
    console.print(table)


def run_verify(env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run([*LOGISTICS, "verify"], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=600, check=False)
    return done.returncode, (done.stdout + done.stderr)[-6000:]


def run_chaos(config: ChaosConfig, console: Console | None = None) -> ChaosReport:
    console = console or Console()
    began = time.monotonic()
    kinds = list(config.faults)
    if config.database_url and "postgres-restart" in kinds:
        console.print("[yellow]--database-url is someone else's server: no PostgreSQL restart fault[/]")
        kinds.remove("postgres-restart")
    schedule = fault_schedule(kinds, config.repeats, config.orders / config.rate, config.seed)
    report = ChaosReport(config.orders, config.seed, [{"kind": f.kind, "at_s": f.at_s} for f in schedule])
    print_schedule(console, schedule, config)
    with ExitStack() as stack:
        work = config.log_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        work.mkdir(parents=True, exist_ok=True)
        database, restart_postgres = stack.enter_context(fresh_database(config, work))
        migrate(database)
        exchange = f"chaos.{uuid4().hex[:10]}"
        tally = stack.enter_context(exchange_consumer(config.amqp_url, exchange))
        env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
               "LOGISTICS_AMQP_URL": config.amqp_url, "LOGISTICS_AMQP_EXCHANGE": exchange,
               "LOGISTICS_DATA_DIR": str(work / "data"), "LOGISTICS_ENV_FILE": str(work / "none"),
               # The chaos couriers jump to their destinations: their moves are not GPS jumps.
               "LOGISTICS_MAX_COURIER_SPEED_KMH": str(COURIER_SPEED_KMH * 2)}
        deployment = Deployment(env, work)
        stack.callback(deployment.stop)
        console.print(f"starting the deployment (logs in {work})")
        deployment.start()
        api_url = deployment.processes["command-api"].base_url
        tokens = TokenIssuer(SECRET)
        admin_token = tokens.issue("admin", "chaos-operator")
        rng = random.Random(config.seed)
        with client(api_url) as http:
            catalog = seed_catalog(http, bearer(admin_token))
        customers = Customers(api_url, tokens, catalog, rng)
        couriers = Couriers(api_url, admin_token, config.couriers, customers.delivered, rng)
        couriers.start()
        stack.callback(couriers.stop)
        customers.receipts.start()
        stack.callback(customers.receipts.stop)

        injector = FaultInjector(deployment, restart_postgres,
                                 lambda line: console.print(f"  [magenta]fault[/] {line}"))
        outcomes: list[FaultOutcome] = []
        first_order = threading.Event()
        t0 = [0.0]

        def inject_all() -> None:
            first_order.wait()
            for fault in schedule:
                time.sleep(max(0.0, t0[0] + fault.at_s - time.monotonic()))
                outcomes.append(injector.inject(fault, time.monotonic() - t0[0]))

        def first() -> None:
            t0[0] = time.monotonic()
            first_order.set()

        faulting = threading.Thread(target=inject_all, name="chaos-faults", daemon=True)
        faulting.start()
        console.print(f"placing {config.orders} orders at {config.rate:g}/s with {config.couriers} couriers")
        customers.place_all(config.orders, config.rate, first)
        console.print(f"placed: {len(customers.placement.accepted)} accepted, {len(customers.placement.refused)} "
                      f"refused, {customers.placement.retries} retried attempts; waiting for the faults to finish")
        faulting.join()
        quiet_from = time.monotonic()
        accepted = set(customers.placement.accepted)
        settle(database, accepted, tally, config.settle_s, console)
        report.settled_s = time.monotonic() - quiet_from
        couriers.stop()
        customers.receipts.stop()
        deployment.stop()

        count_orders(report, database, customers.placement)
        count_messages(report, database, tally)
        report.deliveries = couriers.deliveries
        report.receipt_failures = customers.receipts.failed
        report.faults = [fault_record(outcome) for outcome in outcomes]
        report.unplanned_exits = {name: process.unplanned_exits for name, process in deployment.processes.items()}
        console.print("comparing the read models with a rebuild, then running logistics verify")
        report.read_model_mismatches = [
            {"model": c.model, "differing_rows": c.differing_rows, "tables": c.tables, "samples": c.samples}
            for c in compare_with_rebuild(database) if c.tables]
        report.verify_exit_code, report.verify_output = run_verify(env)
    report.total_s = time.monotonic() - began
    return report


def settle(database: Database, accepted: set[UUID], tally: MessageTally, limit_s: float, console: Console) -> None:
    """Wait until every accepted order is final in the store and in the read models, and every outbox row has
    reached the runner's consumer; or until `limit_s` has passed (what is left then is reported)."""
    deadline = time.monotonic() + limit_s
    last_said = 0.0
    while True:
        store = read_store(database)
        open_orders = accepted - store.final
        behind_views = store.orders - read_model_orders(database)
        outbox, _ = outbox_ids(database)
        undelivered = outbox - set(tally.snapshot())
        if not open_orders and not behind_views and not undelivered:
            return
        if time.monotonic() > deadline:
            console.print(f"[red]not quiet after {limit_s:g} s[/]: {len(open_orders)} orders not final, "
                          f"{len(behind_views)} not in the read models, {len(undelivered)} messages not received")
            return
        if time.monotonic() - last_said > 10:
            console.print(f"  settling: {len(open_orders)} orders not final, {len(undelivered)} messages on their way")
            last_said = time.monotonic()
        time.sleep(1.0)


def chaos_main(config: ChaosConfig, json_path: Path | None) -> int:
    logging.getLogger("scripts.simulate").setLevel(logging.ERROR)  # couriers complain through every outage
    console = Console() if Console().is_terminal else Console(width=160)
    report = run_chaos(config, console)
    render(report, console)
    if json_path is not None:
        report.write_json(json_path)
        console.print(f"JSON report in {json_path}")
    return 1 if report.failures() else 0
