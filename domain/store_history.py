"""A whole store's events replayed into what the platform's invariants judge (`domain.invariants`).

Every stream is replayed into its aggregate (a stream that will not replay keeps its error instead), the
reservations, payments and shipments are filed by their order, each product's stock is worked out again from
its events alone (`Ledger`), and the couriers free at the end (on duty and empty-handed) are noted with the
moment they came free.
Pure: no I/O, the events come from whoever read them.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from eventsourcing.domain import Aggregate, CanMutateProtocol, DomainEventProtocol

from domain.base import event_topic
from domain.order import Order
from domain.payment import Payment
from domain.reservation import StockReservation
from domain.shipping import Courier, Shipment
from domain.stock import Stock

Event = DomainEventProtocol[UUID]


PRODUCT_CREATED: Final = event_topic(Stock, "ProductCreated")
RESTOCKED: Final = event_topic(Stock, "Restocked")
STOCK_RESERVED: Final = event_topic(Stock, "Reserved")
STOCK_RELEASED: Final = event_topic(Stock, "Released")
STOCK_COMMITTED: Final = event_topic(Stock, "Committed")
RESERVATION_REQUESTED: Final = event_topic(StockReservation, "Requested")
RESERVATION_HELD: Final = event_topic(StockReservation, "Held")
PAYMENT_REQUESTED: Final = event_topic(Payment, "Requested")
PAYMENT_AUTHORIZED: Final = event_topic(Payment, "Authorized")
PAYMENT_CAPTURED: Final = event_topic(Payment, "Captured")
ORDER_CONFIRMED: Final = event_topic(Order, "Confirmed")
ORDER_CANCELLED: Final = event_topic(Order, "Cancelled")
SHIPMENT_CREATED: Final = event_topic(Shipment, "Created")
COURIER_ASSIGNED: Final = event_topic(Shipment, "CourierAssigned")
PICKED_UP: Final = event_topic(Shipment, "PickedUp")
COURIER_FREED: Final = frozenset({event_topic(Courier, "Registered"), event_topic(Courier, "BecameAvailable"),
                                  event_topic(Courier, "WentOnDuty")})
"""The facts after which a courier may be free: an off-duty courier is not, until its next shift starts."""
SHIPMENT_DELIVERED: Final = event_topic(Shipment, "Delivered")


def topic(event: Event) -> str:
    return f"{type(event).__module__}:{type(event).__qualname__}"


def field_of(event: Event, name: str) -> Any:
    """An event's own attribute; the protocol only promises the originator's id and version."""
    return vars(event).get(name)


def timestamp(event: Event) -> datetime:
    value = field_of(event, "timestamp")
    if not isinstance(value, datetime):
        raise TypeError(f"event {topic(event)} of {event.originator_id} has no timestamp")
    return value


@dataclass
class Stream:
    id: UUID
    events: list[Event]
    error: str | None = None

    @property
    def last_at(self) -> datetime:
        return timestamp(self.events[-1])

    def first_at(self, fact_topic: str) -> datetime | None:
        return next((timestamp(event) for event in self.events if topic(event) == fact_topic), None)

    def last_at_of(self, fact_topic: str) -> datetime | None:
        return next((timestamp(event) for event in reversed(self.events) if topic(event) == fact_topic), None)

    def count(self, fact_topic: str) -> int:
        return sum(1 for event in self.events if topic(event) == fact_topic)


@dataclass
class Ledger:
    """One product's stock worked out from its events alone, without the aggregate's own arithmetic."""

    on_hand: int = 0
    open: dict[UUID, int] = field(default_factory=dict)
    """Order -> quantity of its Reserved events not yet released or committed."""
    first_breach: str | None = None


def ledger_of(stream: Stream) -> Ledger:
    ledger = Ledger()
    for event in stream.events:
        name = topic(event)
        if name == PRODUCT_CREATED:
            ledger.on_hand = int(field_of(event, "initial_stock"))
        elif name == RESTOCKED:
            ledger.on_hand += int(field_of(event, "quantity"))
        elif name == STOCK_RESERVED:
            ledger.open[field_of(event, "order_id")] = int(field_of(event, "quantity"))
        elif name == STOCK_RELEASED:
            ledger.open.pop(field_of(event, "order_id"), None)
        elif name == STOCK_COMMITTED:
            ledger.on_hand -= int(field_of(event, "quantity"))
            ledger.open.pop(field_of(event, "order_id"), None)
        reserved = sum(ledger.open.values())
        if ledger.first_breach is None and (ledger.on_hand < 0 or reserved > ledger.on_hand):
            ledger.first_breach = (f"product {stream.id}: at v{event.originator_version} on hand {ledger.on_hand}, "
                                   f"reserved {reserved}")
    return ledger


@dataclass
class History:
    streams: dict[UUID, Stream]
    orders: dict[UUID, Order]
    stocks: dict[UUID, Stock]
    ledgers: dict[UUID, Ledger]
    reservations: dict[UUID, list[StockReservation]]
    payments: dict[UUID, list[Payment]]
    shipments: dict[UUID, list[Shipment]]
    """The last three by order id."""
    free_couriers: dict[UUID, datetime] = field(default_factory=dict)
    """Couriers free at the end of the history (on duty, holding nothing), and since when."""

    def open_by_order(self) -> dict[UUID, dict[UUID, int]]:
        """Order -> product -> quantity the stocks still hold for it."""
        held: dict[UUID, dict[UUID, int]] = defaultdict(dict)
        for product_id, ledger in self.ledgers.items():
            for order_id, quantity in ledger.open.items():
                held[order_id][product_id] = quantity
        return held

    def facts(self, fact_topic: str) -> Iterable[Event]:
        for stream in self.streams.values():
            yield from (event for event in stream.events if topic(event) == fact_topic)


def _project(events: Iterable[Event]) -> Aggregate | None:
    """The aggregate a stream's events make, as `eventsourcing.application.project_aggregate` folds them."""
    aggregate: Aggregate | None = None
    for event in events:
        assert isinstance(event, CanMutateProtocol)
        aggregate = event.mutate(aggregate)
    return aggregate


def replay_history(events: Iterable[Event]) -> History:
    """Every stream of these events, in version order, replayed."""
    by_stream: dict[UUID, list[Event]] = defaultdict(list)
    for event in events:
        by_stream[event.originator_id].append(event)
    history = History({}, {}, {}, {}, defaultdict(list), defaultdict(list), defaultdict(list))
    for stream_id, stream_events in by_stream.items():
        stream = Stream(stream_id, sorted(stream_events, key=lambda event: event.originator_version))
        history.streams[stream_id] = stream
        try:
            replayed = _project(stream.events)
        except Exception as error:  # any failure to replay is the finding itself
            stream.error = f"{type(error).__name__}: {error}"
            continue
        if isinstance(replayed, Order):
            history.orders[stream_id] = replayed
        elif isinstance(replayed, Stock):
            history.stocks[stream_id] = replayed
            history.ledgers[stream_id] = ledger_of(stream)
        elif isinstance(replayed, StockReservation):
            history.reservations[replayed.order_id].append(replayed)
        elif isinstance(replayed, Payment):
            history.payments[replayed.order_id].append(replayed)
        elif isinstance(replayed, Shipment):
            history.shipments[replayed.order_id].append(replayed)
        elif isinstance(replayed, Courier) and replayed.is_available:
            history.free_couriers[stream_id] = max(timestamp(event) for event in stream.events
                                                   if topic(event) in COURIER_FREED)
        # Anything else (the retired Dispatcher's streams of older stores) only has to replay.
    return history
