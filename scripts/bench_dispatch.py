"""Benchmark: dispatching with a large fleet, on PostgreSQL.

- Decisions: with `couriers` couriers (2,000 by default) around Jakarta, `count` orders are shipped one after
  another (decided and recorded through the Shipping application: the index's hint, a few couriers loaded,
  the events and index rows in one transaction), then their couriers freed the same way. Beside it, what the
  retired design paid per decision before deciding anything: loading every courier aggregate.
- Loading: a courier of some `positions` positions (10,000 by default, rounded up so that 99 events follow its
  last snapshot: the worst case) loaded `count` times.
- Lost wake-ups: with `logistics worker` running, `wakeups` times a shipment is queued and a courier freed by
  two decisions blind to each other, both committed, at a random moment of the sweeper's second; measured is
  the time from the later commit to the hand-over the worker's sweeper records (its CourierAssigned event's
  timestamp: one clock, this machine's).
"""

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from rich.console import Console
from rich.table import Table

from adapters.database import Database, create_database, drop_database
from commands.shipping import Shipping
from composition.migration import migrate
from domain.shipping import Courier, Shipment
from domain.values import DeliveryAddress
from scripts.bench_orders import SECRET
from scripts.processes import background_process

JAKARTA = (-6.2000, 106.8166)
WAKE_UP_LIMIT_S = 30.0


@dataclass(frozen=True)
class Figures:
    couriers: int
    decide_ms: list[float]
    ship_ms: list[float]
    free_ms: list[float]
    load_fleet_ms: float
    courier_version: int
    """Events of the courier loaded, 99 of them past its last snapshot."""
    load_ms: list[float]
    idle_ms: list[float]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _near(rng: random.Random, spread: float = 0.1) -> tuple[float, float]:
    return (round(JAKARTA[0] + rng.uniform(-spread, spread), 6), round(JAKARTA[1] + rng.uniform(-spread, spread), 6))


def _decisions(database: Database, couriers: int, count: int,
               positions: int) -> tuple[list[float], list[float], list[float], float, int, list[float]]:
    rng = random.Random(7)
    with closing(Shipping(env=database.eventsourcing_env(pool_size=1, max_overflow=1))) as shipping:
        fleet = [Courier.register(f"Courier {index}", *_near(rng)) for index in range(couriers)]
        for start in range(0, len(fleet), 500):
            shipping.save(*fleet[start:start + 500])
        order_ids = [uuid4() for _ in range(count)]
        decide_ms, ship_ms, free_ms = [], [], []
        for order_id in order_ids:
            destination = DeliveryAddress("Jl. Bench", *_near(rng))
            started = time.perf_counter()
            decided = shipping.ship_order(order_id, "bench", destination)
            decide_ms.append((time.perf_counter() - started) * 1000)
            shipping.save(*decided)
            ship_ms.append((time.perf_counter() - started) * 1000)
        for order_id in order_ids:
            started = time.perf_counter()
            shipping.save(*shipping.finish_shipment(order_id))
            free_ms.append((time.perf_counter() - started) * 1000)
        load_fleet_ms = statistics.median(_timed(lambda: [shipping.load(courier.id, Courier) for courier in fleet])
                                          for _ in range(3))
        moving = shipping.get_courier(fleet[0].id)
        # The worst case: as many events past the last snapshot as there can be (the interval is 100).
        positions += 99 - (moving.version + positions) % 100
        for start in range(0, positions, 500):
            for _ in range(min(500, positions - start)):
                moving.move_to(*_near(rng))
            shipping.save(moving)
        load_ms = [_timed(lambda: shipping.get_courier(moving.id)) for _ in range(count)]
    return decide_ms, ship_ms, free_ms, load_fleet_ms, moving.version, load_ms


def _assigned_at(shipping: Shipping, shipment_id: UUID, limit_s: float) -> float:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for event in shipping.events.get(shipment_id, gt=1):
            if type(event).__name__ == "CourierAssigned":
                stamp: float = event.timestamp.timestamp()  # type: ignore[attr-defined]
                return stamp
        time.sleep(0.005)
    raise TimeoutError(f"shipment {shipment_id} was not given the free courier within {limit_s:.0f} s")


def _lost_wake_ups(database: Database, wakeups: int) -> list[float]:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET}
    app_env = database.eventsourcing_env(pool_size=1, max_overflow=1)
    idle_ms = []
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as log_dir, \
            background_process(["worker"], {**env, "LOGISTICS_DATA_DIR": log_dir}, Path(log_dir)), \
            closing(Shipping(env=app_env)) as one, closing(Shipping(env=app_env)) as other:
        courier, _ = one.register_courier("Wake-up courier", *JAKARTA)
        home = DeliveryAddress("Jl. Bench", *JAKARTA)
        carried = uuid4()
        one.save(*one.ship_order(carried, "bench", home))
        for round_ in range(wakeups + 1):
            time.sleep(rng.uniform(0, 1))  # anywhere in the sweeper's second, not just after its last sweep
            waiting = uuid4()
            queued = one.ship_order(waiting, "bench", home)  # the courier is busy: it will wait
            other.save(*other.finish_shipment(carried))  # free again, and nothing waits yet
            one.save(*queued)
            committed = time.time()
            # The first round waits for the worker to start and take its leases; it is not counted.
            assigned = _assigned_at(one, Shipment.create_id(waiting), 120.0 if round_ == 0 else WAKE_UP_LIMIT_S)
            if round_ > 0:
                idle_ms.append((assigned - committed) * 1000)
            carried = waiting
        assert one.get_courier(courier.id).shipment_id == Shipment.create_id(carried)
    return idle_ms


def bench_dispatch(server_url: str, couriers: int, count: int, wakeups: int, positions: int) -> Figures:
    server = Database.from_url(server_url)
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    wake_ups = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    try:
        migrate(database)
        migrate(wake_ups)
        decide_ms, ship_ms, free_ms, load_fleet_ms, version, load_ms = _decisions(database, couriers, count,
                                                                                  positions)
        idle_ms = _lost_wake_ups(wake_ups, wakeups)
        return Figures(couriers, decide_ms, ship_ms, free_ms, load_fleet_ms, version, load_ms, idle_ms)
    finally:
        drop_database(server, database.dbname)
        drop_database(server, wake_ups.dbname)


def report_dispatch(figures: Figures) -> None:
    table = Table(title=f"Dispatching with {figures.couriers:,} couriers", title_justify="left")
    for column in ("what", "n", "p50 ms", "p95 ms", "max ms"):
        table.add_column(column, justify="left" if column == "what" else "right")

    def row(name: str, values: list[float]) -> None:
        table.add_row(name, str(len(values)), f"{_percentile(values, 50):.2f}", f"{_percentile(values, 95):.2f}",
                      f"{max(values):.2f}")

    row("ship an order: decide (index + couriers loaded)", figures.decide_ms)
    row("ship an order: decide + record", figures.ship_ms)
    row("free its courier: decide + record", figures.free_ms)
    table.add_row("load every courier (the retired design, per decision)", "3", f"{figures.load_fleet_ms:.2f}", "",
                  "")
    row(f"load a courier of {figures.courier_version:,} events (99 past its snapshot)", figures.load_ms)
    row("a lost wake-up: idle courier beside a waiting shipment", figures.idle_ms)
    Console().print(table)
