"""The chaos runner's clients: the operator's catalog, couriers that deliver, customers that place orders at a
steady pace and confirm receipt of what arrives. Everything goes over the command API, as real clients would,
and every client retries through an outage: orders under the same Idempotency-Key, so a retry never doubles one.
"""

import heapq
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final
from uuid import UUID, uuid4

import httpx

from adapters.tokens import TokenIssuer
from scripts.movement import JAKARTA, random_point_within
from scripts.simulate import CourierDriver, RegisteredCourier, bearer, problem_detail, register_courier

HTTP_TIMEOUT_S: Final = 10.0
PLACE_GIVE_UP_S: Final = 180.0
"""An order still unanswered after this long of retrying is given up on (and reported as not accepted)."""
RETRIED_STATUSES: Final = frozenset({409, 500, 502, 503, 504})
"""409: the first attempt under this key is still running (or died mid-way: its claim goes stale in 30 s)."""
PLENTY: Final = 1_000_000
SCARCE_STOCK: Final = 12
SCARCE_SHARE: Final = 0.1
DECLINED_SHARE: Final = 0.1
COURIER_SPEED_KMH: Final = 1_000_000.0
"""Fast-forwarded: a courier reaches any address in one tick, so deliveries keep pace with the orders."""
COURIER_PICKUP_S: Final = 0.0
"""Fast-forwarded too: the goods are picked up at the first tick that sees the assignment."""


def client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT_S, trust_env=False)


def retrying(attempt: Callable[[], httpx.Response], accept: Callable[[httpx.Response], bool],
             give_up_s: float = PLACE_GIVE_UP_S) -> httpx.Response:
    """Call until an answer is acceptable (or is a refusal that asking again will not change)."""
    deadline = time.monotonic() + give_up_s
    pause = 0.25
    while True:
        try:
            answer = attempt()
            if accept(answer) or answer.status_code not in RETRIED_STATUSES:
                return answer
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        else:
            if time.monotonic() > deadline:
                return answer
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


@dataclass(frozen=True)
class Catalog:
    plentiful: list[str]
    scarce: str


def seed_catalog(http: httpx.Client, admin: dict[str, str]) -> Catalog:
    """Three products with stock for every order, one with so little that some orders are cancelled for it."""
    ids = []
    for sku, stock in (("CHAOS-KOPI", PLENTY), ("CHAOS-TEH", PLENTY), ("CHAOS-NASI", PLENTY),
                       ("CHAOS-DURIAN", SCARCE_STOCK)):
        body = {"sku": sku, "name": sku.title(), "price": "10.00", "initial_stock": stock}

        def create(body: dict[str, object] = body) -> httpx.Response:
            return http.post("/api/products", headers=admin, json=body)

        answer = retrying(create, lambda a: a.status_code == 201)
        if answer.status_code != 201:
            raise RuntimeError(f"creating {sku}: {answer.status_code} {problem_detail(answer)}")
        ids.append(str(answer.json()["id"]))
    return Catalog(ids[:3], ids[3])


@dataclass(frozen=True)
class PlacedOrder:
    order_id: UUID
    customer: str
    token: str


@dataclass
class Placement:
    """What the customers asked for and what the API answered."""

    accepted: dict[UUID, PlacedOrder] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    answers_202: int = 0
    retries: int = 0
    """Attempts beyond each order's first: connection errors and 5xx/409 while something was down."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, order: PlacedOrder | None, refusal: str, retries: int) -> None:
        with self._lock:
            self.retries += retries
            if order is None:
                self.refused.append(refusal)
            else:
                self.answers_202 += 1
                self.accepted[order.order_id] = order


class Customers:
    """Customers that place orders and, once their courier has handed one over, confirm its receipt."""

    def __init__(self, api_url: str, tokens: TokenIssuer, catalog: Catalog, rng: random.Random,
                 count: int = 20) -> None:
        self.api_url = api_url
        self.catalog = catalog
        self.rng = rng
        self.headers = {f"chaos-customer-{n}": bearer(tokens.issue("customer", f"chaos-customer-{n}"))
                        for n in range(1, count + 1)}
        self.placement = Placement()
        self.receipts = Receipts(api_url, self.headers_of)
        self._local = threading.local()

    def _http(self) -> httpx.Client:
        if not hasattr(self._local, "http"):
            self._local.http = client(self.api_url)
        return self._local.http  # type: ignore[no-any-return]

    def order_body(self, token: str) -> dict[str, Any]:
        items = [{"product_id": self.rng.choice(self.catalog.plentiful), "quantity": self.rng.randint(1, 3)}]
        if self.rng.random() < SCARCE_SHARE:
            items.append({"product_id": self.catalog.scarce, "quantity": self.rng.randint(1, 2)})
        point = random_point_within(JAKARTA, 3.0, self.rng)
        return {"items": items, "payment": {"token": token},
                "delivery": {"address": f"Jl. Chaos {self.rng.randint(1, 200)}", "lat": point.lat, "lng": point.lng}}

    def place_all(self, count: int, rate: float, on_first: Callable[[], None], concurrency: int = 16) -> None:
        """Place `count` orders at `rate` per second; each is retried under its key until answered."""
        started = time.monotonic()
        futures: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="customer") as pool:
            for index in range(count):
                time.sleep(max(0.0, started + index / rate - time.monotonic()))
                if index == 0:
                    on_first()
                customer = self.rng.choice(list(self.headers))
                token = "tok_decline" if self.rng.random() < DECLINED_SHARE else "tok_ok"
                futures.append(pool.submit(self._place, customer, token, self.order_body(token)))
        for future in futures:
            future.result()

    def _place(self, customer: str, token: str, body: dict[str, Any]) -> None:
        headers = {**self.headers[customer], "Idempotency-Key": uuid4().hex}
        attempts = 0

        def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return self._http().post("/api/orders", headers=headers, json=body)

        try:
            answer = retrying(attempt, lambda a: a.status_code == 202)
        except httpx.TransportError as error:
            self.placement.record(None, f"unanswered: {error}", attempts - 1)
            return
        if answer.status_code != 202:
            self.placement.record(None, f"{answer.status_code} {problem_detail(answer)}", attempts - 1)
            return
        self.placement.record(PlacedOrder(UUID(answer.json()["order_id"]), customer, token), "", attempts - 1)

    def headers_of(self, order_id: UUID) -> dict[str, str] | None:
        """The customer's credentials for an order; None while its placement's answer has not come back (the
        saga can deliver an order before a retried placement hears that it was accepted)."""
        placed = self.placement.accepted.get(order_id)
        return None if placed is None else self.headers[placed.customer]

    def delivered(self, order_id: UUID) -> None:
        self.receipts.expect(order_id)


class Receipts:
    """Customers at their doorsteps: each delivered order's receipt is confirmed, retried until it lands."""

    def __init__(self, api_url: str, headers_of: Callable[[UUID], dict[str, str] | None]) -> None:
        self.api_url = api_url
        self.headers_of = headers_of
        self.confirmed = 0
        self.failed: list[str] = []
        self._due: list[tuple[float, UUID]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="receipts", daemon=True)

    def expect(self, order_id: UUID) -> None:
        with self._lock:
            heapq.heappush(self._due, (time.monotonic(), order_id))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._due)

    def _run(self) -> None:
        with client(self.api_url) as http:
            while not self._stop.wait(0.05):
                with self._lock:
                    due = heapq.heappop(self._due) if self._due and self._due[0][0] <= time.monotonic() else None
                if due is None:
                    continue
                _, order_id = due
                if not self._settled(http, order_id):
                    with self._lock:
                        heapq.heappush(self._due, (time.monotonic() + 0.5, order_id))

    def _settled(self, http: httpx.Client, order_id: UUID) -> bool:
        headers = self.headers_of(order_id)
        if headers is None:
            return False  # its customer has not heard back yet
        try:
            answer = http.post(f"/api/orders/{order_id}/receipt", headers=headers)
        except httpx.TransportError:
            return False
        if answer.status_code == 202:
            self.confirmed += 1
            return True
        detail = problem_detail(answer)
        if answer.status_code == 409 and ("is RECEIVED" in detail or "is CANCELLED" in detail):
            return True  # an earlier attempt landed though its answer was lost, or the order was cancelled
        if answer.status_code in RETRIED_STATUSES:
            return False  # not DELIVERED yet (the saga moves it), or the API is down
        self.failed.append(f"{order_id}: {answer.status_code} {detail}")
        return True


class DeliveringCourier(CourierDriver):
    """A courier's app that tells the customer the moment it has handed an order over."""

    def __init__(self, http: httpx.Client, courier: RegisteredCourier, tick_s: float,
                 on_delivered: Callable[[UUID], None]) -> None:
        super().__init__(http, courier, COURIER_SPEED_KMH, tick_s, pickup_s=COURIER_PICKUP_S)
        self.on_delivered = on_delivered

    def handed_over_to_customer(self, assignment: dict[str, Any]) -> None:
        if assignment.get("order_id"):
            self.on_delivered(UUID(str(assignment["order_id"])))


class Couriers:
    """A few couriers, one thread each, delivering whatever the saga assigns them."""

    def __init__(self, api_url: str, admin_token: str, count: int, on_delivered: Callable[[UUID], None],
                 rng: random.Random, tick_s: float = 0.5) -> None:
        self.api_url = api_url
        self.tick_s = tick_s
        self.on_delivered = on_delivered
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        with client(api_url) as http:
            self.couriers = [register_courier(http, admin_token, f"Chaos courier {n}",
                                              random_point_within(JAKARTA, 3.0, rng)) for n in range(1, count + 1)]
        self.drivers: list[DeliveringCourier] = []

    def start(self) -> None:
        for courier in self.couriers:
            thread = threading.Thread(target=self._drive, args=(courier,), name=f"courier-{courier.id[:8]}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _drive(self, courier: RegisteredCourier) -> None:
        with client(self.api_url) as http:
            driver = DeliveringCourier(http, courier, self.tick_s, self.on_delivered)
            self.drivers.append(driver)
            driver.complaints.every_s = 60.0  # an outage is expected here; the report tells what it cost
            driver.run(self._stop, self.tick_s)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    @property
    def deliveries(self) -> int:
        return sum(driver.stats.deliveries.value for driver in self.drivers)
