"""Two workers and two projectors share every follower's partitions; SIGKILL one of each mid-stream and the
others take their partitions over. Afterwards nothing is lost or doubled: `logistics verify` is clean, every
order is final, every read model equals `rebuild --all` row for row, and every outbox message reached
RabbitMQ (each message id at least once; copies from the relay's at-least-once retry are counted apart).
"""

import json
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID

import pytest

from adapters.database import Database
from adapters.follower_leases import LEASES
from adapters.platform_status import platform_status
from domain.order import OrderStatus
from scripts.processes import LOGISTICS, ROOT, RunningProcess, background_process
from tests.e2e.broker_checks import (
    Collector,
    outbox,
    read_model_tables,
    stored_event_count,
    wait_until_received,
)
from tests.e2e.stack import FINAL, Stack, running_stack
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

ORDERS = 200


@pytest.fixture
def stack(database: Database, tmp_path: Path, rabbit: RabbitEnv) -> Iterator[Stack]:
    with running_stack(database, tmp_path, LOGISTICS_PAYMENT_TIMEOUT_S="3", LOGISTICS_AMQP_URL=rabbit.url,
                       LOGISTICS_AMQP_EXCHANGE=rabbit.exchange) as running:
        yield running


def lease_owners(database: Database) -> dict[str, set[str]]:
    """Follower -> the processes holding its partitions now (pids, from `host:pid:nonce`)."""
    owners: dict[str, set[str]] = {}
    with database.connect() as connection:
        for follower, owner in connection.execute(
                f"SELECT follower, owner FROM {LEASES} WHERE owner IS NOT NULL AND expires_at > now()").fetchall():
            owners.setdefault(str(follower), set()).add(str(owner).split(":")[1])
    return owners


def seconds_until(what: str, check: Callable[[], bool], limit_s: float = 60.0) -> float:
    """How long until `check()` held: the notes quote the takeover time."""
    started = time.monotonic()
    eventually(check, timeout=limit_s, interval=0.2, what=what)
    return time.monotonic() - started


def status_json(stack: Stack) -> dict[str, object]:
    done = subprocess.run([*LOGISTICS, "status", "--json"], cwd=ROOT, env={**os.environ, **stack.env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    parsed: dict[str, object] = json.loads(done.stdout)
    return parsed


def finish_every_order(stack: Stack, order_ids: list[UUID], couriers: dict[UUID, str]) -> None:
    """Cancel what still waits for a courier; pick up, deliver and confirm what a courier has: every order
    final. The waiting ones are cancelled first, so that a courier freed by a receipt finds nothing more to
    take and the deliveries do not queue behind each other."""
    carried = []
    for order_id in order_ids:
        order = stack.wait_for(order_id, lambda order: order.status is not OrderStatus.PENDING, limit_s=180)
        shipment = stack.shipment(order_id)
        if order.status is OrderStatus.CONFIRMED and shipment is not None and shipment.courier_id is not None:
            carried.append(order_id)
        elif order.status is OrderStatus.CONFIRMED:
            # Still cancellable if a courier took it meanwhile: it has not been picked up.
            answer = stack.http.post(f"/api/orders/{order_id}/cancel", headers=stack.bearer("customer",
                                                                                          order.customer_id))
            assert answer.status_code == 202, answer.text
    for order_id in carried:
        shipment = stack.shipment(order_id)
        assert shipment is not None
        assert shipment.courier_id is not None
        stack.pick_up(order_id, {"Authorization": f"Bearer {couriers[shipment.courier_id]}"})
        order = stack.order(order_id)
        assert order.shipment_id is not None
        assert order.courier_id
        courier = {"Authorization": f"Bearer {couriers[order.courier_id]}"}
        stack.http.post(f"/api/shipments/{order.shipment_id}/delivered", headers=courier)
        stack.wait_for(order_id, lambda order: order.status is OrderStatus.DELIVERED)
        customer = stack.bearer("customer", order.customer_id)
        assert stack.http.post(f"/api/orders/{order_id}/receipt", headers=customer).status_code == 202
    for order_id in order_ids:
        stack.wait_for(order_id, lambda order: order.status in FINAL, limit_s=180)


def test_two_of_each_share_the_work_and_survive_losing_one(stack: Stack, collector: Collector,
                                                           tmp_path: Path) -> None:
    rng = random.Random(11)
    products = [stack.create_product(f"SCALE-{index}", stock=100_000, price="1.00") for index in range(3)]
    couriers = dict(stack.register_courier(-6.2 + index / 100, 106.8, name=f"Courier {index}") for index in range(4))
    tokens = ["tok_ok"] * 8 + ["tok_decline", "tok_timeout"]
    with ExitStack() as processes:
        second_worker: RunningProcess = processes.enter_context(background_process(["worker"], stack.env, tmp_path))
        projectors = [processes.enter_context(background_process(["projector"], stack.env, tmp_path))
                      for _ in range(2)]
        # Both of each hold some partitions of every follower (the relay is one partition: one holds it).
        seconds_until("the followers shared between two processes each", lambda: all(
            len(owners) == 2 for follower, owners in lease_owners(stack.database).items() if follower != "relay"))
        partitions = status_json(stack)["followers"]
        assert isinstance(partitions, list)
        assert all({"partition", "owner", "position"} <= set(part) for follower in partitions
                   for part in follower["partitions"])

        def place(index: int) -> UUID:
            return stack.place(f"scale-{index % 10}", rng.choice(products), 1, rng.choice(tokens))

        with ThreadPoolExecutor(max_workers=4) as pool:
            placing = [pool.submit(place, index) for index in range(ORDERS)]
            # In the middle of the stream: a quarter of the orders in.
            eventually(lambda: sum(future.done() for future in placing) >= ORDERS // 4, timeout=60,
                       what="the stream under way")
            killed = {str(stack.worker.process.pid), str(projectors[0].process.pid)}
            stack.worker.process.kill()
            projectors[0].process.kill()
            order_ids = [future.result() for future in placing]
        takeover_s = seconds_until("the survivors holding every partition", lambda: all(
            not (owners & killed) and len(owners) == 1 for owners in lease_owners(stack.database).values()))
        print(f"partitions taken over {takeover_s:.1f} s after the kill was noticed")  # for the notes
        assert {str(second_worker.process.pid), str(projectors[1].process.pid)} >= set().union(
            *lease_owners(stack.database).values())

        finish_every_order(stack, order_ids, couriers)
        seconds_until("every follower caught up", lambda: not any(
            follower.lag_events for follower in platform_status(stack.database).followers), limit_s=120)

    stack.verify()
    live = read_model_tables(stack.database)
    assert len(live["audit_events"]) == stored_event_count(stack.database)  # every event once, none lost
    rows = outbox(stack.database)
    wanted = {row[1] for row in rows}
    assert len(wanted) == len(rows)
    wait_until_received(collector, wanted)
    assert collector.ids() == wanted  # nothing lost, nothing foreign
    copies = sum(count - 1 for count in Counter(message.message_id for message in collector.received).values())
    print(f"RabbitMQ received {copies} extra copies of {len(wanted)} messages (deduplicated by message id)")
    rebuilt = subprocess.run([*LOGISTICS, "rebuild", "--all"], cwd=ROOT, env={**os.environ, **stack.env},
                             capture_output=True, text=True, timeout=600)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert read_model_tables(stack.database) == live
