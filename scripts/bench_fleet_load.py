"""The load of `logistics bench fleet`: N courier apps, customers ordering at R/s, receipts, sampled order pages.

Everything runs on one asyncio loop with a few keep-alive `httpx.AsyncClient`s (HTTP/1.1, a connection per
courier available). Orders are placed at a steady pace by a handful of customers; each order's customer confirms
receipt once its courier has handed it over, which frees the courier for the next one. While a courier carries
an order, that order's page may be one of the K the bench watches (`PushWatchers`); when it is delivered, the
next carried order takes its place.

The job board stands in for the push notification a courier app gets when it is given a shipment: twice a
second it reads which courier holds which shipment from the dispatch index (one query whatever N is) and tells
those couriers, who then ask the command API for their assignment. Polling the assignment from N apps instead
would add N requests per poll to the very path being measured.
"""

import asyncio
import math
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import httpx
import psycopg

from scripts.bench_fleet_couriers import CourierDriver, CourierHooks, Job, LoadTally
from scripts.bench_fleet_figures import ReportLedger
from scripts.bench_fleet_sockets import PushWatchers
from scripts.movement import JAKARTA, Point, random_point_within
from scripts.simulate import RegisteredCourier, bearer, problem_detail

COURIERS_PER_CLIENT: Final = 250
JOB_POLL_S: Final = 0.5
FRAME_GRACE_S: Final = 2.0
"""How long an order page stays open after its delivery, and the sockets after the run: frames on the way."""
REGISTERING_AT_ONCE: Final = 16
PLACING_AT_ONCE: Final = 64
RECEIPT_RETRY_S: Final = 1.0
HTTP_TIMEOUT_S: Final = 30.0

Mark = TypeVar("Mark")


@dataclass(frozen=True)
class FleetConfig:
    couriers: int
    hz: float
    duration_s: float
    orders_per_s: float
    sample_orders: int
    speed_kmh: float = 40.0
    radius_km: float = 3.0
    centre: Point = JAKARTA
    seed: int = 1

    def __post_init__(self) -> None:
        if self.couriers < 1 or self.hz <= 0 or self.duration_s <= 0 or self.orders_per_s < 0:
            raise ValueError("couriers, hz and duration must be positive; the order rate must not be negative")
        if self.sample_orders < 0 or not 0 < self.speed_kmh < 250:
            raise ValueError("sample orders must not be negative; the speed is between 0 and 250 km/h")


@dataclass
class LoadOutcome(Generic[Mark]):
    tally: LoadTally
    ledger: ReportLedger
    trips: list[tuple[float, float | None]]
    carried: list[str]
    """Every shipment a courier took on during the run."""
    placed: list[str]
    started: float
    """Wall clock, when the couriers started driving."""
    ended: float
    start_mark: Mark
    end_mark: Mark

    @property
    def driving_s(self) -> float:
        return self.ended - self.started


def _client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=60)
    return httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT_S, limits=limits, trust_env=False)


async def register_couriers(api_url: str, admin_token: str, count: int, centre: Point, radius_km: float,
                            rng: random.Random) -> list[RegisteredCourier]:
    """Enrol `count` couriers as an operator would (a few at a time); each answer carries the courier's token."""
    starts = [random_point_within(centre, radius_km, rng) for _ in range(count)]
    gate = asyncio.Semaphore(REGISTERING_AT_ONCE)
    async with _client(api_url, REGISTERING_AT_ONCE) as http:
        async def register(index: int) -> RegisteredCourier:
            name, start = f"Bench courier {index + 1}", starts[index]
            async with gate:
                answer = await http.post("/api/couriers", headers=bearer(admin_token),
                                         json={"name": name, "lat": start.lat, "lng": start.lng})
            if answer.status_code != 201:
                raise RuntimeError(f"registering {name}: {answer.status_code} {problem_detail(answer)}")
            body = answer.json()
            return RegisteredCourier(str(body["id"]), name, str(body["token"]), start)

        return list(await asyncio.gather(*(register(index) for index in range(count))))


@dataclass
class _Run:
    """The shared state of one run: who owns which order, which orders are watched, the tasks still going."""

    config: FleetConfig
    http: httpx.AsyncClient
    product_id: str
    customers: list[str]
    watchers: PushWatchers
    tally: LoadTally
    rng: random.Random
    until: float
    owners: dict[str, str] = field(default_factory=dict)
    """order id -> its customer's token."""
    placed: list[str] = field(default_factory=list)
    watched: set[str] = field(default_factory=set)
    drivers: list[CourierDriver] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def picked_up(self, driver: CourierDriver, job: Job) -> None:
        self._sample(driver.courier.id, job.order_id)

    def delivered(self, driver: CourierDriver, job: Job) -> None:
        self.watchers.stop_watching(job.order_id, after_s=FRAME_GRACE_S)
        token = self.owners.get(job.order_id)
        if token is not None:
            self.spawn(self._confirm_receipt(job.order_id, token))
        for other in self.drivers:  # the sample's freed place goes to another order under way
            if other.job is not None and other.job.order_id not in self.watched:
                self._sample(other.courier.id, other.job.order_id)

    def _sample(self, courier_id: str, order_id: str) -> None:
        token = self.owners.get(order_id)
        if token is None or order_id in self.watched or self.watchers.watching >= self.config.sample_orders:
            return
        self.watched.add(order_id)
        self.watchers.watch_order(order_id, courier_id, token)

    async def place_orders(self) -> None:
        if self.config.orders_per_s <= 0:
            return
        gate = asyncio.Semaphore(PLACING_AT_ONCE)
        started, index = time.monotonic(), 0
        while (slot := started + index / self.config.orders_per_s) < self.until:
            await asyncio.sleep(max(0.0, slot - time.monotonic()))
            self.spawn(self._place(self.customers[index % len(self.customers)], gate))
            index += 1

    async def _place(self, customer: str, gate: asyncio.Semaphore) -> None:
        where = random_point_within(self.config.centre, self.config.radius_km, self.rng)
        body = {"items": [{"product_id": self.product_id, "quantity": 1}], "payment": {"token": "tok_ok"},
                "delivery": {"address": "Jl. Benchmark 1", "lat": where.lat, "lng": where.lng}}
        async with gate:
            try:
                answer = await self.http.post("/api/orders", json=body, headers=bearer(customer))
            except httpx.HTTPError as error:
                self.tally.transport_error("order", error)
                return
        if answer.status_code != 202:
            self.tally.refusal("order", answer)
            return
        order_id = str(answer.json()["order_id"])
        self.owners[order_id] = customer
        self.placed.append(order_id)
        self.tally.placed += 1

    async def _confirm_receipt(self, order_id: str, customer: str) -> None:
        # 409 until the saga has marked the order delivered; asked again each second until the run ends.
        while time.monotonic() < self.until:
            try:
                answer = await self.http.post(f"/api/orders/{order_id}/receipt", headers=bearer(customer))
            except httpx.HTTPError as error:
                self.tally.transport_error("receipt", error)
                return
            if answer.status_code == 202:
                self.tally.received += 1
                return
            if answer.status_code != 409 or "CANCELLED" in problem_detail(answer):
                self.tally.refusal("receipt", answer)
                return
            await asyncio.sleep(RECEIPT_RETRY_S)


async def _job_board(database_url: str, drivers: dict[str, CourierDriver], until: float) -> None:
    """Tell each courier the shipment the dispatch index says it holds, every `JOB_POLL_S`, until `until`."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        while time.monotonic() < until:
            cursor = await connection.execute(
                "SELECT courier_id, shipment_id FROM shipping.dispatch_couriers WHERE shipment_id IS NOT NULL")
            for courier_id, shipment_id in await cursor.fetchall():
                driver = drivers.get(str(courier_id))
                if driver is not None:
                    driver.offer(str(shipment_id))
            await asyncio.sleep(max(0.0, min(JOB_POLL_S, until - time.monotonic())))


async def run_load(config: FleetConfig, api_url: str, database_url: str, couriers: list[RegisteredCourier],
                   product_id: str, customers: list[str], watchers: PushWatchers,
                   mark: Callable[[], Mark]) -> LoadOutcome[Mark]:
    """Drive the couriers and the customers for `config.duration_s`; `mark` is read as they start and stop."""
    rng = random.Random(config.seed)
    tally, ledger = LoadTally(), ReportLedger()
    shards = math.ceil(len(couriers) / COURIERS_PER_CLIENT)
    per_shard = math.ceil(len(couriers) / shards)
    clients = [_client(api_url, per_shard) for _ in range(shards)]
    customer_http = _client(api_url, PLACING_AT_ONCE)
    try:
        start_mark = await asyncio.to_thread(mark)
        started, until = time.time(), time.monotonic() + config.duration_s
        run = _Run(config, customer_http, product_id, customers, watchers, tally, rng, until)
        hooks = CourierHooks(picked_up=run.picked_up, delivered=run.delivered)
        run.drivers = [CourierDriver(courier, clients[index // per_shard], config.hz, config.speed_kmh, tally,
                                     ledger, hooks, random.Random(rng.random()))
                       for index, courier in enumerate(couriers)]
        by_id = {driver.courier.id: driver for driver in run.drivers}
        await asyncio.gather(run.place_orders(), _job_board(database_url, by_id, until),
                             *(driver.drive(until) for driver in run.drivers))
        ended = time.time()
        end_mark = await asyncio.to_thread(mark)
        # Placements still answering count; receipts stop by themselves at the run's end.
        if run.tasks:
            await asyncio.wait(set(run.tasks), timeout=HTTP_TIMEOUT_S)
        for task in list(run.tasks):
            task.cancel()
        await asyncio.gather(*run.tasks, return_exceptions=True)
    finally:
        for client in (*clients, customer_http):
            await client.aclose()
    return LoadOutcome(tally, ledger, [trip for driver in run.drivers for trip in driver.trips],
                       [shipment for driver in run.drivers for shipment in driver.carried], list(run.placed),
                       started, ended, start_mark, end_mark)
