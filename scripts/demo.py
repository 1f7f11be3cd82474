"""`logistics demo`: a busy afternoon in Jakarta, played against the command API.

An operator seeds a small catalog (two of its products deliberately scarce, so some orders go out of stock),
couriers pick up and drive (`scripts.simulate`), demo customers place a stream of orders with a share of declined and
never-answered payments, and confirm receipt of what was delivered, which frees the courier for the next one.
Everything goes over HTTP as a real client's would; only the tokens are minted locally.
"""

import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Final
from uuid import uuid4

import httpx
from rich.console import Console

from adapters.tokens import TokenIssuer
from scripts.demo_receipts import RECEIPT_MAX_INTERVAL_S, confirming_receipts
from scripts.movement import JAKARTA, random_point_within
from scripts.simulate import (
    HTTP_TIMEOUT_S,
    PICKUP_S,
    Counter,
    SimulationConfig,
    bearer,
    courier_simulation,
    problem_detail,
)

log = logging.getLogger(__name__)

ORDER_ATTEMPTS: Final = 3
RESTOCK_CHECK_S: Final = 2.0
DELIVERED_SHARE: Final = 0.85
"""Orders that end up delivered: the rest are declined, time out or find their stock gone."""
COURIER_HEADROOM: Final = 1.6
"""Couriers per courier-load: Poisson arrivals bunch up, and a courier waits for its receipt between trips."""
STREETS: Final = ("Jl. Jaksa", "Jl. Sabang", "Jl. Cikini Raya", "Jl. Kemang Raya", "Jl. Senopati",
                  "Jl. Tebet Raya", "Jl. Menteng Raya", "Jl. Kebon Sirih", "Jl. Gajah Mada", "Jl. Tanah Abang")


@dataclass(frozen=True)
class ProductSpec:
    sku: str
    name: str
    price: str
    initial_stock: int
    restock_below: int
    """Top up once we believe fewer than this many are available ..."""
    restock_quantity: int
    restock_every_s: float
    """... but no more often than this."""
    popularity: int = 4
    """How often it is picked, relative to the others."""


CATALOG: Final = (
    ProductSpec("DEMO-KOPI", "Kopi Susu Gula Aren", "25000.00", 400, 100, 300, 5.0),
    ProductSpec("DEMO-TEH", "Teh Botol", "8000.00", 400, 100, 300, 5.0),
    ProductSpec("DEMO-NASGOR", "Nasi Goreng Kampung", "32000.00", 300, 80, 200, 5.0),
    ProductSpec("DEMO-SATE", "Sate Ayam", "45000.00", 200, 60, 150, 5.0),
    # Scarce on purpose: small, rare top-ups leave gaps in which orders for them go OUT_OF_STOCK.
    ProductSpec("DEMO-DURIAN", "Durian Montong", "150000.00", 1, 1, 3, 30.0, popularity=2),
    ProductSpec("DEMO-MARTABAK", "Martabak Manis Spesial", "60000.00", 3, 1, 4, 45.0, popularity=1),
)


@dataclass
class Product:
    spec: ProductSpec
    id: str
    estimate: int
    """Available as the API last told us, less what we have ordered since (cancellations give some back)."""
    # Seeding counts as a top-up: a scarce product must first run dry for a while.
    last_restock: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class DemoConfig:
    api_url: str
    secret: str
    orders_per_minute: float = 30.0
    couriers: int | None = None
    """None: as many as the order rate needs (`couriers_for`)."""
    duration_s: float | None = None
    speed_kmh: float = 200.0
    tick_s: float = 1.0
    pickup_s: float = PICKUP_S
    customers: int = 6
    radius_km: float = 3.0
    """Couriers and deliveries around central Jakarta."""
    receipt_patience_s: float = 600.0
    """After this long an undelivered order is checked only every RECEIPT_SLOW_INTERVAL_S, never dropped."""
    summary_every_s: float = 10.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.orders_per_minute <= 0 or self.customers < 1 or (self.couriers is not None and self.couriers < 0):
            raise ValueError("orders per minute must be positive, customers at least 1, couriers not negative")


@dataclass
class DemoStats:
    placed: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    received: Counter = field(default_factory=Counter)
    cancelled: Counter = field(default_factory=Counter)
    restocks: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


def trip_seconds(radius_km: float, speed_kmh: float, tick_s: float, pickup_s: float = PICKUP_S) -> float:
    """One delivery's round for a courier: the pick-up (and the tick that reports it), to a random point of the
    disc (0.905 R on average from another), plus a tick to start, the customer's receipt (polled every few
    seconds) and the platform's next assignment."""
    drive_s = 0.905 * radius_km / speed_kmh * 3600
    return pickup_s + tick_s + drive_s + 2 * tick_s + RECEIPT_MAX_INTERVAL_S + 2.0


def couriers_for(orders_per_minute: float, radius_km: float, speed_kmh: float, tick_s: float = 1.0,
                 pickup_s: float = PICKUP_S) -> int:
    """Enough couriers that orders do not queue for one: the couriers kept busy on average, with headroom."""
    busy = orders_per_minute * DELIVERED_SHARE / 60 * trip_seconds(radius_km, speed_kmh, tick_s, pickup_s)
    return max(2, math.ceil(busy * COURIER_HEADROOM))


def payment_token(rng: random.Random) -> str:
    """About 10% declined and 5% never answered: enough of each to watch the saga cancel them."""
    draw = rng.random()
    if draw < 0.10:
        return "tok_decline"
    if draw < 0.15:
        return "tok_timeout"
    return "tok_ok"


# Seeding and restocking, as the operator.

def seed_catalog(http: httpx.Client, admin: dict[str, str], catalog: tuple[ProductSpec, ...] = CATALOG,
                 ) -> list[Product]:
    """Create the demo's products; those a previous run created are taken as they are."""
    products = []
    for spec in catalog:
        created = http.post("/api/products", headers=admin, json={
            "sku": spec.sku, "name": spec.name, "price": spec.price, "initial_stock": spec.initial_stock})
        if created.status_code == 201:
            body = created.json()
            products.append(Product(spec, str(body["id"]), int(body["available"])))
            continue
        if created.status_code != 409 or "existing_id" not in created.json():
            raise RuntimeError(f"creating {spec.sku}: {created.status_code} {problem_detail(created)}")
        product_id = str(created.json()["existing_id"])
        # The command API has no product query; an update that changes nothing records nothing and answers
        # with the product's current stock.
        current = http.patch(f"/api/products/{product_id}", headers=admin, json={})
        if current.status_code != 200:
            log.warning("%s exists but cannot be used: %s %s", spec.sku, current.status_code,
                        problem_detail(current))
            continue
        products.append(Product(spec, product_id, int(current.json()["available"])))
    if not products:
        raise RuntimeError("no product can be ordered")
    return products


def restock_low(http: httpx.Client, admin: dict[str, str], products: list[Product], stats: DemoStats,
                now: float) -> None:
    for product in products:
        spec = product.spec
        if product.estimate >= spec.restock_below or now - product.last_restock < spec.restock_every_s:
            continue
        product.last_restock = now
        try:
            answer = http.post(f"/api/products/{product.id}/restock", headers=admin,
                               json={"quantity": spec.restock_quantity, "reason": "demo top-up"})
        except httpx.HTTPError as error:
            stats.errors.add()
            log.warning("restocking %s: %s", spec.sku, error)
            continue
        if answer.status_code == 202:
            product.estimate = int(answer.json()["available"])
            stats.restocks.add()
        else:
            stats.errors.add()
            log.warning("restocking %s: %s %s", spec.sku, answer.status_code, problem_detail(answer))


# Customers: placing orders and confirming what arrives.

def pick_products(products: list[Product], rng: random.Random, count: int) -> list[Product]:
    """`count` different products, popular ones more often (an order may name a product once only)."""
    weights = [product.spec.popularity for product in products]
    chosen: dict[str, Product] = {}
    while len(chosen) < count:
        product = rng.choices(products, weights)[0]
        chosen[product.id] = product
    return list(chosen.values())


def order_body(products: list[Product], rng: random.Random, radius_km: float) -> dict[str, Any]:
    lines = pick_products(products, rng, rng.randint(1, min(3, len(products))))
    point = random_point_within(JAKARTA, radius_km, rng)
    return {
        "items": [{"product_id": product.id, "quantity": rng.randint(1, 3)} for product in lines],
        "payment": {"token": payment_token(rng)},
        "delivery": {"address": f"{rng.choice(STREETS)} {rng.randint(1, 200)}", "lat": point.lat,
                     "lng": point.lng},
    }


def place_order(http: httpx.Client, headers: dict[str, str], body: dict[str, Any], stats: DemoStats) -> str | None:
    """Place one order; a lost answer is retried under the same Idempotency-Key, so it is never placed twice."""
    keyed = {**headers, "Idempotency-Key": uuid4().hex}
    for attempt in range(1, ORDER_ATTEMPTS + 1):
        try:
            answer = http.post("/api/orders", headers=keyed, json=body)
        except httpx.HTTPError as error:
            stats.errors.add()
            log.warning("placing an order (attempt %d): %s", attempt, error)
            time.sleep(0.5 * attempt)
            continue
        if answer.status_code == 202:
            stats.placed.add()
            return str(answer.json()["order_id"])
        if answer.status_code >= 500 or answer.status_code == 409:
            # 409 here means our first attempt is still running: its answer comes with the next one.
            stats.errors.add()
            log.warning("placing an order (attempt %d): %s %s", attempt, answer.status_code,
                        problem_detail(answer))
            time.sleep(0.5 * attempt)
            continue
        stats.refused.add()
        log.warning("order refused: %s %s", answer.status_code, problem_detail(answer))
        return None
    return None


def summary(stats: DemoStats, deliveries: int, open_orders: int, overdue: int, couriers: int,
            elapsed_s: float) -> str:
    """One line of what the demo did so far. Its orders and its couriers are counted apart: another program's
    couriers (`logistics simulate couriers`) may deliver some of its orders, and its couriers others' orders."""
    late = f" ([yellow]{overdue} late[/])" if overdue else ""
    return (f"[bold]{elapsed_s:4.0f} s[/] orders: placed [cyan]{stats.placed.value}[/]"
            f" · refused {stats.refused.value} · cancelled [yellow]{stats.cancelled.value}[/]"
            f" · received [green]{stats.received.value}[/] · on their way {open_orders}{late}"
            f" | its {couriers} couriers: [cyan]{deliveries}[/] deliveries"
            f" | restocks {stats.restocks.value} · errors [red]{stats.errors.value}[/]")


def run_demo(config: DemoConfig, console: Console | None = None) -> DemoStats:
    """`logistics demo`: run until `duration_s` has passed, or until Ctrl-C; returns the tallies."""
    # Never wrap: one line per summary, however narrow the terminal (or a log file's assumed width).
    console = console or Console(soft_wrap=True)
    rng = random.Random(config.seed)
    tokens = TokenIssuer(config.secret)
    admin_token = tokens.issue("admin", "demo-operator")
    admin = bearer(admin_token)
    customers = [bearer(tokens.issue("customer", f"demo-customer-{n}")) for n in range(1, config.customers + 1)]
    stats = DemoStats()
    courier_count = config.couriers if config.couriers is not None else couriers_for(
        config.orders_per_minute, config.radius_km, config.speed_kmh, config.tick_s, config.pickup_s)
    simulation_config = SimulationConfig(
        api_url=config.api_url, admin_token=admin_token, count=courier_count,
        centre=JAKARTA, radius_km=config.radius_km, speed_kmh=config.speed_kmh, tick_s=config.tick_s,
        name_prefix="Demo courier", pickup_s=config.pickup_s)
    started = time.monotonic()
    with httpx.Client(base_url=config.api_url, timeout=HTTP_TIMEOUT_S) as http:
        products = seed_catalog(http, admin)
        console.print(f"catalog: {', '.join(f'{p.spec.sku} ({p.estimate})' for p in products)}")
        with courier_simulation(simulation_config, rng) as couriers, \
                confirming_receipts(config.api_url, stats, config.receipt_patience_s) as receipts:
            sized = "" if config.couriers is not None else " (enough for the order rate)"
            console.print(f"{len(couriers.couriers)} couriers{sized} at {config.speed_kmh:.0f} km/h, "
                          f"{config.orders_per_minute:g} orders/min from {config.customers} customers")
            console.print("orders: placed, refused by the API, cancelled by the saga, received by their customer, "
                          "on their way (not yet delivered); deliveries: by the demo's own couriers")
            per_second = config.orders_per_minute / 60.0
            now = time.monotonic()
            next_order, next_restock, next_summary = now, now, now + config.summary_every_s
            try:
                while config.duration_s is None or now - started < config.duration_s:
                    if now >= next_order:
                        customer = rng.choice(customers)
                        body = order_body(products, rng, config.radius_km)
                        order_id = place_order(http, customer, body, stats)
                        if order_id is not None:
                            receipts.expect(order_id, customer)
                            for item in body["items"]:
                                next(p for p in products if p.id == item["product_id"]).estimate -= item["quantity"]
                        # Arrivals at random (Poisson); a slow answer must not turn into a burst afterwards.
                        next_order = max(next_order + rng.expovariate(per_second), time.monotonic() - 1.0)
                    if now >= next_restock:
                        restock_low(http, admin, products, stats, now)
                        next_restock = now + RESTOCK_CHECK_S
                    if now >= next_summary:
                        console.print(summary(stats, couriers.stats.deliveries.value, receipts.waiting,
                                              receipts.overdue(now), len(couriers.couriers), now - started))
                        next_summary = now + config.summary_every_s
                    time.sleep(max(0.0, min(next_order, next_restock, next_summary, now + 0.5) - time.monotonic()))
                    now = time.monotonic()
            except KeyboardInterrupt:
                console.print("stopping")
            final = (couriers.stats.deliveries.value, receipts.waiting, receipts.overdue(), len(couriers.couriers))
    console.print(summary(stats, *final, time.monotonic() - started))
    return stats
