"""Benchmark: rebuilding read models, beside the raw rate of reading and decoding the same events.

A fresh database gets a realistic history written straight through the four contexts' applications (the
aggregates' own commands, many aggregates per save, so 100,000 events take seconds rather than the saga's
minutes). Then, side by side: (a) reading and decoding every notification with no projection at all, (b) an
in-place rebuild of every read model, (c) a blue-green rebuild of the orders model.
"""

import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from rich.console import Console
from rich.table import Table

from adapters.database import Database, create_database, drop_database
from adapters.read_generations import live_generations
from adapters.rebuild_blue_green import rebuild_blue_green
from adapters.rebuild_in_place import rebuild_in_place
from adapters.rebuild_replay import EventLogs
from adapters.rebuild_runs import RebuildResult
from adapters.rebuild_tables import set_tracking
from commands.inventory import Inventory
from commands.orders import Orders
from commands.payments import Payments
from commands.shipping import Shipping
from composition.migration import migrate
from domain.base import message_context
from domain.order import CancelReason, Order
from domain.payment import Payment
from domain.reservation import StockReservation
from domain.shipping import Courier, Shipment
from domain.stock import Stock
from domain.values import DeliveryAddress, GeoPoint, OrderLine
from projections.models import ALL_MODELS
from projections.models.orders import ORDERS
from scripts.rebuild import REBUILD_SOURCES, RichProgress, summary

JAKARTA = (-6.2000, 106.8166)


class OrderHistories:
    """Whole orders' histories (placing, reserving, paying, shipping, delivering), made in memory.

    It keeps its stocks and couriers, as their only writer would. Most orders are delivered and received; some
    are declined, some cancelled.
    """

    def __init__(self, *, products: int = 20, couriers: int = 40, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.stocks = [Stock.create(f"BENCH-{index:03d}", f"Benchmark item {index}",
                                    Decimal(self.random.randint(100, 9999)) / 100, 1_000_000)
                       for index in range(products)]
        self.couriers = [Courier.register(f"Courier {index}", *self._near(JAKARTA)) for index in range(couriers)]
        self.placed = 0

    def _near(self, point: tuple[float, float], spread: float = 0.05) -> tuple[float, float]:
        return (round(point[0] + self.random.uniform(-spread, spread), 6),
                round(point[1] + self.random.uniform(-spread, spread), 6))

    def one_order(self) -> dict[str, list[Any]]:
        """The aggregates one more order changed, by context, with their events pending."""
        self.placed += 1
        customer = f"customer-{self.random.randint(1, 500)}"
        stocks = {stock.id: stock for stock in self.random.sample(self.stocks, self.random.randint(1, 3))}
        lines = [OrderLine(stock.id, self.random.randint(1, 3), stock.price) for stock in stocks.values()]
        delivery = DeliveryAddress(f"Jl. Benchmark {self.placed}", *self._near(JAKARTA, 0.2))
        order = Order.place(customer, lines, "tok_ok_4242", delivery)
        with message_context(str(order.id), None):
            reservation = StockReservation.reserve(order.id, lines, stocks)
            payment = Payment(order_id=order.id, amount=order.total, token="tok_ok_4242")
            outcome = self.random.random()
            if outcome < 0.08:
                payment.decline("insufficient funds")
                order.record_stock_reserved()
                order.record_payment_declined()
                reservation.release(stocks)
                return {"orders": [order], "inventory": [reservation, *stocks.values()], "payments": [payment]}
            payment.authorize(f"auth-{self.placed}")
            order.record_stock_reserved()
            order.record_payment_authorized()
            if outcome < 0.15:
                order.cancel(CancelReason.CUSTOMER_CANCELLED, "changed my mind")
                reservation.release(stocks)
                payment.void()
                return {"orders": [order], "inventory": [reservation, *stocks.values()], "payments": [payment]}
            courier = self.couriers[self.placed % len(self.couriers)]
            shipment = Shipment(order_id=order.id, customer_id=customer, destination=delivery)
            shipment.assign(courier)
            shipment.pick_up(courier.position)
            order.mark_in_transit(shipment.id, courier.id)
            reservation.commit(stocks)
            payment.capture()
            for _ in range(2):
                lat, lng = self._near((courier.position.lat, courier.position.lng), 0.01)
                shipment.record_checkpoint(GeoPoint(lat, lng), None)
            shipment.deliver()
            courier.release()
            order.mark_delivered()
            order.confirm_receipt()
            return {"orders": [order], "inventory": [reservation, *stocks.values()], "payments": [payment],
                    "shipping": [shipment, courier]}


class HistoryWriter:
    """Writes order histories in large saves, many aggregates per save, so 100,000 events take seconds.

    Given `histories` it carries on with them, which must be stored already: in a copy of the database a writer
    of those histories wrote, say (`copy.deepcopy` them first, so that the two writers share nothing). Without,
    it starts new ones and writes their stocks and couriers.
    """

    def __init__(self, database: Database, histories: OrderHistories | None = None, *, products: int = 20,
                 couriers: int = 40, seed: int = 7) -> None:
        env = database.eventsourcing_env(pool_size=1, max_overflow=1)
        self.orders = Orders(env=env)
        self.inventory = Inventory(env=env)
        self.payments = Payments(env=env)
        self.shipping = Shipping(env=env)
        self.events = 0
        if histories is not None:
            self.histories = histories
            return
        self.histories = OrderHistories(products=products, couriers=couriers, seed=seed)
        self.events = sum(len(aggregate.pending_events) for aggregate in (
            *self.histories.stocks, *self.histories.couriers))
        self.inventory.save(*self.histories.stocks)
        self.shipping.save(*self.histories.couriers)

    @property
    def placed(self) -> int:
        return self.histories.placed

    def write(self, orders: int, per_save: int = 200) -> int:
        """Write this many orders' histories; returns the events written."""
        written = 0
        while orders > 0:
            batch = min(per_save, orders)
            written += self._write_batch(batch)
            orders -= batch
        return written

    def _write_batch(self, count: int) -> int:
        changed: dict[str, dict[UUID, Aggregate]] = {"orders": {}, "inventory": {}, "payments": {}, "shipping": {}}
        for _ in range(count):
            for context, aggregates in self.histories.one_order().items():
                for aggregate in aggregates:
                    changed[context][aggregate.id] = aggregate
        written = 0
        for app, context in ((self.orders, "orders"), (self.inventory, "inventory"), (self.payments, "payments"),
                             (self.shipping, "shipping")):
            aggregates = list(changed[context].values())
            written += sum(len(aggregate.pending_events) for aggregate in aggregates)
            app.save(*aggregates)
        self.events += written
        return written

    def close(self) -> None:
        for app in (self.orders, self.inventory, self.payments, self.shipping):
            app.close()


@dataclass(frozen=True)
class Figure:
    name: str
    events: int
    seconds: float
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def raw_read(database: Database) -> Figure:
    """Every notification selected and decoded, nothing else: the ceiling for any replay."""
    started = time.perf_counter()
    events = 0
    with EventLogs(database, REBUILD_SOURCES.contexts) as logs:
        for name in logs.apps:
            for batch in logs.read(name, 0, logs.head(name)):
                events += len(batch)
    return Figure("raw read + decode (no projection)", events, time.perf_counter() - started)


def declare_projected(database: Database) -> None:
    """Mark every live generation as having projected the whole history, as if the projector had run.

    A rebuild replays up to where the live generation stands; this sets that to the heads without taking the
    live path's minutes, and the in-place rebuild then writes everything (the rebuild's very use case: the
    tables were lost or are wrong, the positions are right).
    """
    with EventLogs(database, REBUILD_SOURCES.contexts) as logs:
        heads = {name: logs.head(name) for name in logs.apps}
    with database.connect() as connection, connection.transaction():
        for model, generation in live_generations(database, ALL_MODELS.values()):
            set_tracking(connection, model, generation,
                         {name: head for name, head in heads.items() if name in model.upstreams and head})


def run(server_url: str, events: int, console: Console | None = None) -> tuple[list[Figure], list[RebuildResult]]:
    console = console or Console(stderr=True)
    server = Database.from_url(server_url)
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    try:
        migrate(database)
        started = time.perf_counter()
        writer = HistoryWriter(database)
        try:
            with console.status("writing history") as status:
                while writer.events < events:
                    writer.write(200)
                    status.update(f"writing history: {writer.events:,} events")
        finally:
            writer.close()
        generated = Figure("history written (setup)", writer.events, time.perf_counter() - started,
                           f"{writer.placed:,} orders")
        declare_projected(database)
        figures = [generated, raw_read(database)]
        with RichProgress(console) as progress:
            in_place = rebuild_in_place(database, REBUILD_SOURCES, list(ALL_MODELS.values()), progress)
            blue_green = rebuild_blue_green(database, REBUILD_SOURCES, ORDERS, progress)
        figures.append(Figure(f"in-place rebuild --all ({len(in_place)} models, one pass)", in_place[0].read,
                              in_place[0].seconds,
                              f"{sum(result.events for result in in_place):,} events folded into the models"))
        replay_events, replay_seconds = blue_green.phases["replay"]
        figures.append(Figure("blue-green rebuild orders (whole)", blue_green.events, blue_green.seconds,
                              "replay, catch-up, full verify replay, swap"))
        figures.append(Figure("blue-green rebuild orders (replay phase)", replay_events, replay_seconds))
        return figures, [*in_place, blue_green]
    finally:
        drop_database(server, database.dbname)


def report(figures: list[Figure], results: list[RebuildResult], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Rebuilding read models")
    for column in ("what", "events", "seconds", "events/s", "note"):
        table.add_column(column, justify="left" if column in ("what", "note") else "right")
    for figure in figures:
        table.add_row(figure.name, f"{figure.events:,}", f"{figure.seconds:.2f}", f"{figure.per_second:,.0f}",
                      figure.note)
    console.print(table)
    console.print(summary(results))
