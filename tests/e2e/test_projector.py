"""Projections and the outbox relay end to end: real processes, real PostgreSQL, real RabbitMQ, and faults.

Every stored event must reach RabbitMQ exactly once per message id and in order per aggregate, through a
RabbitMQ restart; a projector killed mid-stream must leave views equal to a fresh rebuild.
"""

import json
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.database import Database
from adapters.messaging import Message
from adapters.platform_status import platform_status
from domain.order import OrderStatus
from scripts.processes import RunningProcess, background_process
from tests.e2e.broker_checks import (
    Collector,
    first_deliveries,
    outbox,
    read_model_tables,
    stored_event_count,
    wait_until_received,
)
from tests.e2e.stack import Stack, running_stack
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(database: Database, tmp_path: Path, rabbit: RabbitEnv) -> Iterator[Stack]:
    with running_stack(database, tmp_path, LOGISTICS_PAYMENT_TIMEOUT_S="2", LOGISTICS_AMQP_URL=rabbit.url,
                       LOGISTICS_AMQP_EXCHANGE=rabbit.exchange) as running:
        yield running


def start_projector(stack: Stack) -> Any:
    return background_process(["projector"], stack.env, stack.log_dir)


def wait_until_caught_up(stack: Stack, projector: RunningProcess, limit_s: float = 180) -> None:
    """Every read model at the head of every stream, and nothing left for the relay to send."""
    def caught_up() -> bool:
        status = platform_status(stack.database)
        behind = [f for f in status.followers if f.follower.startswith("read model") and f.lag_events]
        return not behind and status.relay.unsent == 0

    eventually(caught_up, timeout=limit_s, interval=0.3, what="every read model and the relay caught up",
               explain=lambda: f"{platform_status(stack.database)}\n{projector.log()[-3000:]}")


def place_orders(stack: Stack, count: int) -> list[UUID]:
    product = stack.create_product("PROJ-1", stock=100_000, price="2.00")
    tokens = ["tok_ok", "tok_ok", "tok_ok", "tok_decline"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda index: stack.place(f"cust-{index % 5}", product, 1, tokens[index % 4]),
                             range(count)))


def assert_in_order_per_aggregate(received: list[Message]) -> None:
    last_version: dict[str, int] = {}
    last_outbox_id: dict[str, int] = defaultdict(int)
    for message in received:
        body = json.loads(message.body)
        if "version" in body and "aggregate_id" in body:
            aggregate = body["aggregate_id"]
            assert body["version"] > last_version.get(aggregate, 0), f"{aggregate} out of order"
            last_version[aggregate] = body["version"]
        else:  # a view change: its outbox id says where it stands among its entity's changes
            entity = str(message.headers["aggregate-id"])
            outbox_id = int(message.headers["outbox-id"])
            assert outbox_id > last_outbox_id[entity], f"view of {entity} out of order"
            last_outbox_id[entity] = outbox_id


def test_every_event_reaches_rabbitmq_once_and_in_order(stack: Stack, collector: Collector) -> None:
    with start_projector(stack) as projector:
        stack.register_courier()
        order_ids = place_orders(stack, 40)
        for order_id in order_ids:
            stack.wait_for(order_id, lambda order: order.status is not OrderStatus.PENDING)
        wait_until_caught_up(stack, projector)
    rows = outbox(stack.database)
    wait_until_received(collector, {row[1] for row in rows})
    counts = Counter(message.message_id for message in collector.received)
    assert max(counts.values()) == 1, "a message was delivered twice in a normal run"
    domain_events = [row for row in rows if not row[2].startswith("view.")]
    assert len(domain_events) == stored_event_count(stack.database)  # every stored event, once
    assert {row[2] for row in domain_events} >= {"order.created", "payment.success", "payment.failed",
                                                  "stock.reserved", "order.confirmed", "order.cancelled"}
    assert_in_order_per_aggregate(collector.received)


def test_a_rabbitmq_restart_loses_nothing(stack: Stack, collector: Collector) -> None:
    with start_projector(stack) as projector:
        product = stack.create_product("RESTART-1", stock=100_000)
        placed: list[UUID] = []

        def keep_placing(stop: threading.Event) -> None:
            while not stop.is_set() and len(placed) < 150:
                placed.append(stack.place("restart", product))
                time.sleep(0.02)

        stop = threading.Event()
        placing = threading.Thread(target=keep_placing, args=(stop,))
        placing.start()
        try:
            time.sleep(1.0)
            subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
            time.sleep(2.0)  # orders keep coming while the broker is away; the outbox holds their messages
            subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
        finally:
            stop.set()
            placing.join()
        for order_id in placed:
            stack.wait_for(order_id, lambda order: order.status is not OrderStatus.PENDING)
        wait_until_caught_up(stack, projector)
    wanted = {row[1] for row in outbox(stack.database)}
    wait_until_received(collector, wanted)
    assert collector.ids() == wanted  # nothing missing, nothing foreign
    assert_in_order_per_aggregate(first_deliveries(collector.received))


def test_a_killed_projector_leaves_views_equal_to_a_rebuild(stack: Stack, collector: Collector) -> None:
    stack.register_courier()
    projector_context = start_projector(stack)
    projector = projector_context.__enter__()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            placing = pool.submit(place_orders, stack, 120)
            eventually(lambda: len(outbox(stack.database)) >= 20, timeout=60, what="the projector under way")
            projector.process.kill()  # SIGKILL, mid-stream
            projector.process.wait()
            order_ids = placing.result()
    finally:
        projector_context.__exit__(None, None, None)
    for order_id in order_ids:
        stack.wait_for(order_id, lambda order: order.status is not OrderStatus.PENDING)
    with start_projector(stack) as restarted:
        wait_until_caught_up(stack, restarted)
    live = read_model_tables(stack.database)
    assert len(live["audit_events"]) == stored_event_count(stack.database)  # no event applied twice, none lost
    rows = outbox(stack.database)
    assert len({row[1] for row in rows}) == len(rows)
    wait_until_received(collector, {row[1] for row in rows})

    rebuilt = subprocess.run([*stack_logistics(), "rebuild", "--all"], env=stack_env(stack), capture_output=True,
                             text=True, timeout=600)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert read_model_tables(stack.database) == live
    assert outbox(stack.database) == rows  # a rebuild publishes nothing


def stack_logistics() -> list[str]:
    from scripts.processes import LOGISTICS

    return LOGISTICS


def stack_env(stack: Stack) -> dict[str, str]:
    import os

    return {**os.environ, **stack.env}
