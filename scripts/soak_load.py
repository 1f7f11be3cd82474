"""The steady load of `logistics soak`: customers ordering at a paced rate, couriers delivering, receipts confirmed.

Orders are placed at `rate` per second by a few HTTP clients. A slot the clients cannot serve within a second
of its time is skipped rather than caught up in a burst, so the achieved rate says what the platform sustained.
Couriers are `scripts.simulate`'s, fast-forwarded so that a trip takes a few ticks. The customers learn of a
delivery from the admin firehose (the frame that says DELIVERED) and confirm receipt at once, which frees the
courier; the same firehose gives each order's push latency, HTTP answer -> first frame about it. Orders in flight
while the firehose was down are asked for their receipt directly every few seconds until it is given.
"""

import json
import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from scripts.movement import JAKARTA, random_point_within
from scripts.simulate import Counter, CourierSimulation, SimulationConfig, bearer, problem_detail

log = logging.getLogger(__name__)

PLACING_CLIENTS: Final = 16
LATE_SLOT_S: Final = 1.0
"""A placement this late is skipped: catching up in a burst would not be a steady load."""
RADIUS_KM: Final = 1.0
TICK_S: Final = 1.0
SPEED_KMH: Final = 7_200.0
"""2 km a tick: any delivery of the 1 km disc is reached in one step, so a trip is a pick-up, a position and a
delivery."""
PICKUP_S: Final = 0.0
"""Fast-forwarded too: the goods are picked up at the first tick that sees the assignment."""
TRIP_S: Final = 5.0
"""A courier's round: the tick it notices the assignment and picks up, the step, the delivery, the receipt, the
next dispatch."""
COURIER_HEADROOM: Final = 1.5
CUSTOMERS: Final = 20
RECEIPT_CLIENTS: Final = 8
"""Receipts in parallel: a courier stays busy until its customer confirms, so receipts must never queue."""
RECEIPT_SWEEP_EVERY_S: Final = 10.0
RECEIPT_SWEEP_MOST: Final = 50


def couriers_for(rate: float) -> int:
    return max(2, math.ceil(rate * TRIP_S * COURIER_HEADROOM))


@dataclass
class LoadStats:
    placed: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    """Slots not served within LATE_SLOT_S."""
    received: Counter = field(default_factory=Counter)
    cancelled: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    reconnects: Counter = field(default_factory=Counter)


@dataclass
class _Order:
    headers: dict[str, str]
    answered: float | None = None
    """perf_counter at the HTTP answer."""
    first_frame: float | None = None
    delivered: bool = False
    suspect: bool = False
    """In flight while the firehose was down: its DELIVERED frame may be lost, so its receipt is tried directly."""


class PushTracker:
    """Orders in flight: answer and first-frame instants, and which of them are delivered and await receipt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[str, _Order] = {}
        self._latencies_ms: list[float] = []
        self.all_latencies_ms: list[float] = []
        self.deliveries: list[str] = []

    def answered(self, order_id: str, headers: dict[str, str]) -> None:
        now = time.perf_counter()
        with self._lock:
            order = self._orders.setdefault(order_id, _Order(headers))
            order.headers, order.answered = headers, now
            self._note_latency(order)

    def frame(self, order_id: str, status: str | None, at: float) -> None:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                if status != "PENDING":
                    return  # an order settled already (its RECEIVED frame), or not ours
                # The first frame may beat the answer to us (the client thread ran late): it waits for the answer.
                order = self._orders[order_id] = _Order({})
            if order.first_frame is None:
                order.first_frame = at
                self._note_latency(order)
            if status == "DELIVERED" and not order.delivered:
                order.delivered = True
                self.deliveries.append(order_id)

    def _note_latency(self, order: _Order) -> None:
        if order.answered is not None and order.first_frame is not None:
            latency = max(0.0, order.first_frame - order.answered) * 1000
            self._latencies_ms.append(latency)
            self.all_latencies_ms.append(latency)

    def take_latencies(self) -> list[float]:
        """The latencies measured since the last call: the frames of this sampling interval."""
        with self._lock:
            taken, self._latencies_ms = self._latencies_ms, []
            return taken

    def take_deliveries(self) -> list[tuple[str, dict[str, str]]]:
        with self._lock:
            taken, self.deliveries = self.deliveries, []
            return [(order_id, self._orders[order_id].headers) for order_id in taken]

    def settled(self, order_id: str) -> None:
        with self._lock:
            self._orders.pop(order_id, None)

    def suspect_all(self) -> None:
        """The firehose was down: any order in flight may have missed its DELIVERED frame."""
        with self._lock:
            for order in self._orders.values():
                order.suspect = True

    def suspects(self, most: int) -> list[tuple[str, dict[str, str]]]:
        with self._lock:
            return [(order_id, order.headers) for order_id, order in self._orders.items()
                    if order.suspect and order.answered is not None][:most]

    def suspect(self, order_id: str) -> None:
        """Its receipt failed: the sweep tries it again."""
        with self._lock:
            if order_id in self._orders:
                self._orders[order_id].suspect = True

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._orders)


class Firehose:
    """The admin firehose WebSocket, reconnected when the server drops it; feeds every order frame to a tracker."""

    def __init__(self, url: str, tracker: PushTracker, stats: LoadStats) -> None:
        self._url = url
        self._tracker = tracker
        self._stats = stats
        self._stop = threading.Event()
        self._socket = self._connect()
        self._thread = threading.Thread(target=self._run, name="soak-firehose", daemon=True)
        self._thread.start()

    def _connect(self) -> ClientConnection:
        socket = connect(self._url, open_timeout=10, close_timeout=5, proxy=None, max_queue=4096)
        socket.send(json.dumps({"subscribe": "*"}))
        acknowledged = json.loads(socket.recv(timeout=10))
        if acknowledged != {"type": "subscribed", "subscription": "*"}:
            raise RuntimeError(f"the firehose was refused: {acknowledged}")
        return socket

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                text = self._socket.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                if self._stop.is_set():
                    return
                log.warning("the firehose closed (%s); reconnecting", closed.rcvd)
                self._stats.reconnects.add()
                self._reconnect()
                self._tracker.suspect_all()
                continue
            arrived = time.perf_counter()  # before decoding: decoding is the client's cost
            frame = json.loads(text)
            if frame.get("view") == "order":
                data = frame.get("data") or {}
                self._tracker.frame(str(frame["entity_id"]), data.get("status"), arrived)

    def _reconnect(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self._socket = self._connect()
                return
            except (OSError, ConnectionClosed, TimeoutError, RuntimeError) as error:
                log.warning("reconnecting the firehose: %s", error)

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(10)


def _order_body(product_id: str, rng: random.Random) -> dict[str, Any]:
    point = random_point_within(JAKARTA, RADIUS_KM, rng)
    return {"items": [{"product_id": product_id, "quantity": 1}], "payment": {"token": "tok_ok"},
            "delivery": {"address": f"Jl. Soak {rng.randint(1, 500)}", "lat": point.lat, "lng": point.lng}}


class OrderLoad:
    """Places orders at `rate`/s, confirms the receipt of those delivered, until stopped."""

    def __init__(self, api_url: str, product_id: str, customers: list[dict[str, str]], rate: float,
                 tracker: PushTracker, stats: LoadStats, seed: int | None = None) -> None:
        self._api_url = api_url
        self._product_id = product_id
        self._customers = customers
        self._rate = rate
        self._tracker = tracker
        self._stats = stats
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(PLACING_CLIENTS)
        self._http = httpx.Client(base_url=api_url, timeout=30, trust_env=False,
                                  limits=httpx.Limits(max_connections=PLACING_CLIENTS + RECEIPT_CLIENTS))
        self._pool = ThreadPoolExecutor(max_workers=PLACING_CLIENTS, thread_name_prefix="soak-order")
        self._receipt_pool = ThreadPoolExecutor(max_workers=RECEIPT_CLIENTS, thread_name_prefix="soak-receipt")
        self._threads = [threading.Thread(target=self._pace, name="soak-pacer", daemon=True),
                         threading.Thread(target=self._receipts, name="soak-receipts", daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        self._pool.shutdown(wait=True)
        self._receipt_pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def _pace(self) -> None:
        started = time.perf_counter()
        slot = 0
        while not self._stop.is_set():
            due = started + slot / self._rate
            if self._stop.wait(max(0.0, due - time.perf_counter())):
                return
            slot += 1
            # Wait for a free client only as long as the slot is not late; then it is skipped.
            if not self._slots.acquire(timeout=max(0.0, due + LATE_SLOT_S - time.perf_counter())):
                self._stats.skipped.add()
                continue
            customer = self._rng.choice(self._customers)
            self._pool.submit(self._place, customer, _order_body(self._product_id, self._rng))

    def _place(self, customer: dict[str, str], body: dict[str, Any]) -> None:
        try:
            answer = self._http.post("/api/orders", json=body, headers=customer)
            if answer.status_code == 202:
                self._tracker.answered(str(answer.json()["order_id"]), customer)
                self._stats.placed.add()
            else:
                self._stats.errors.add()
                log.warning("placing an order: %s %s", answer.status_code, problem_detail(answer))
        except httpx.HTTPError as error:
            self._stats.errors.add()
            log.warning("placing an order: %s", error)
        finally:
            self._slots.release()

    def _receipts(self) -> None:
        last_sweep = time.monotonic()
        while not self._stop.wait(0.1):
            for order_id, headers in self._tracker.take_deliveries():
                self._receipt_pool.submit(self._confirm, order_id, headers)
            if time.monotonic() - last_sweep > RECEIPT_SWEEP_EVERY_S:
                last_sweep = time.monotonic()
                for order_id, headers in self._tracker.suspects(RECEIPT_SWEEP_MOST):
                    self._receipt_pool.submit(self._confirm, order_id, headers)

    def _confirm(self, order_id: str, headers: dict[str, str]) -> None:
        try:
            answer = self._http.post(f"/api/orders/{order_id}/receipt", headers=headers)
        except httpx.HTTPError as error:
            self._stats.errors.add()
            self._tracker.suspect(order_id)
            log.warning("receipt of %s: %s", order_id, error)
            return
        if answer.status_code == 202:
            self._stats.received.add()
            self._tracker.settled(order_id)
        elif answer.status_code == 409 and "CANCELLED" in problem_detail(answer):
            self._stats.cancelled.add()
            self._tracker.settled(order_id)
        elif answer.status_code != 409:  # 409: not delivered yet; its frame, or the next sweep, comes later
            self._stats.errors.add()
            if answer.status_code >= 500 or answer.status_code == 429:
                self._tracker.suspect(order_id)
            log.warning("receipt of %s: %s %s", order_id, answer.status_code, problem_detail(answer))


@dataclass
class Load:
    stats: LoadStats
    tracker: PushTracker
    couriers: CourierSimulation


@contextmanager
def steady_load(api_url: str, query_url: str, admin_token: str, customer_tokens: list[str], product_id: str,
                rate: float, couriers: int, seed: int | None = None) -> Iterator[Load]:
    """Couriers registered and driving, the firehose followed, orders placed at `rate`: until the block ends."""
    stats, tracker = LoadStats(), PushTracker()
    rng = random.Random(seed)
    simulation = CourierSimulation(
        SimulationConfig(api_url=api_url, admin_token=admin_token, count=couriers, centre=JAKARTA,
                         radius_km=RADIUS_KM, speed_kmh=SPEED_KMH, tick_s=TICK_S, name_prefix="Soak courier",
                         pickup_s=PICKUP_S),
        rng, client_factory=lambda: httpx.Client(base_url=api_url, timeout=30, trust_env=False))
    simulation.start()
    try:
        firehose = Firehose(query_url.replace("http://", "ws://") + f"/ws?token={admin_token}", tracker, stats)
        try:
            load = OrderLoad(api_url, product_id, [bearer(token) for token in customer_tokens], rate, tracker,
                             stats, seed)
            load.start()
            try:
                yield Load(stats, tracker, simulation)
            finally:
                load.stop()
        finally:
            firehose.close()
    finally:
        simulation.stop()
