"""The platform's invariants, judged over a whole store's decoded events (what `logistics verify` reports).

`check_invariants` is pure: it takes the events of the four contexts (and the moment to judge ages against)
and returns one `Check` per invariant, each saying whether it holds and, when it does not, what breaks it.

What counts as a breach, and what is only worth knowing:

- A saga step that is still on its way is not a breach. The contexts are read one after the other while the
  platform may be running, so a compensation (release stock, void a payment) or an order's next step may land
  between two reads. Such states are breaches only once they are older than the deadline (`stuck_after`); before
  that they are reported as notes.
- An order that waits on a person (a courier to become free, a courier to deliver, a customer to confirm
  receipt) is not stuck by the saga's fault: it is reported as a note, never as a breach. Off-duty couriers
  are nobody's to dispatch: they are not free.
- A shipment assigned to a courier who has not picked it up yet is a courier on its way: a note while the
  assignment (the latest one, after a reassignment) is younger than the deadline, a breach once it is older,
  as for a shipment that has had a courier that long.
- An order is stuck (a breach) when the saga should have moved it and has not for longer than the deadline:
  PENDING; CONFIRMED without a shipment, or with one that waits for a courier while an on-duty courier has
  been free all along; CONFIRMED although its shipment was picked up (the order goes in transit then);
  IN_TRANSIT although its shipment was delivered.

Every event is held in memory while the checks run: fine for a store of millions of events, not for billions.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from domain.order import FINAL_STATUSES, OrderStatus
from domain.payment import Payment, PaymentStatus
from domain.reservation import ReservationStatus
from domain.shipping import ShipmentStatus
from domain.store_history import (
    COURIER_ASSIGNED,
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    PAYMENT_AUTHORIZED,
    PAYMENT_CAPTURED,
    PAYMENT_REQUESTED,
    PICKED_UP,
    RESERVATION_HELD,
    RESERVATION_REQUESTED,
    SHIPMENT_CREATED,
    SHIPMENT_DELIVERED,
    STOCK_RESERVED,
    Event,
    History,
    field_of,
    replay_history,
    topic,
)

STREAMS_REPLAY: Final = "every stream replays"
STOCK_LEVELS: Final = "stock on hand never negative, never below reserved"
RESERVED_IS_OPEN: Final = "reserved stock = open reservations"
CONFIRMED_BACKED: Final = "confirmed orders: one reservation per line, one authorized payment"
CANCELLED_SETTLED: Final = "cancelled orders hold no stock and no authorization"
NOTHING_STUCK: Final = "no order stuck"
NOTHING_TWICE: Final = "no fact recorded twice"

PAST_CONFIRMED: Final = frozenset({
    OrderStatus.CONFIRMED, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED, OrderStatus.RECEIVED,
})
PICKED: Final = frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED})
"""A shipment in one of these has been picked up: its order should be in transit (or further) by now."""


@dataclass(frozen=True)
class Check:
    name: str
    holds: bool
    details: list[str]
    """One line per breach, naming what breaks the invariant."""
    examined: int = 0
    """How many things (streams, products, orders, facts) the check looked at."""
    notes: list[str] = field(default_factory=list)
    """Worth an operator's eye but not a breach (waiting on a person, or a saga step still on its way)."""


def judged(name: str, breaches: Sequence[str], examined: int, notes: Sequence[str] = ()) -> Check:
    return Check(name, not breaches, list(breaches), examined, list(notes))


def _age(now: datetime, since: datetime) -> str:
    return f"{(now - since).total_seconds():.0f}s"


def _streams_replay(history: History, undecodable: Sequence[str]) -> Check:
    breaches = [f"undecodable: {problem}" for problem in undecodable]
    breaches += [f"stream {stream.id} ({topic(stream.events[0])}): {stream.error}"
                 for stream in history.streams.values() if stream.error is not None]
    return judged(STREAMS_REPLAY, breaches, len(history.streams))


def _stock_levels(history: History) -> Check:
    breaches = []
    for product_id, ledger in history.ledgers.items():
        if ledger.first_breach is not None:
            breaches.append(ledger.first_breach)
        stock = history.stocks[product_id]
        if stock.on_hand != ledger.on_hand:
            breaches.append(f"product {product_id}: the aggregate has {stock.on_hand} on hand, "
                            f"initial + restocked - committed is {ledger.on_hand}")
    return judged(STOCK_LEVELS, breaches, len(history.ledgers))


def _reserved_is_open(history: History) -> Check:
    breaches = []
    held: dict[tuple[UUID, UUID], int] = {}
    for order_id, reservations in history.reservations.items():
        for reservation in reservations:
            if reservation.status is ReservationStatus.HELD:
                held.update({(line.product_id, order_id): line.quantity for line in reservation.lines})
    open_: dict[tuple[UUID, UUID], int] = {}
    for product_id, ledger in history.ledgers.items():
        open_.update({(product_id, order_id): quantity for order_id, quantity in ledger.open.items()})
        stock = history.stocks[product_id]
        if stock.reservations != ledger.open:
            breaches.append(f"product {product_id}: the aggregate reserves {stock.reserved}, its open Reserved "
                            f"events add up to {sum(ledger.open.values())}")
    for (product_id, order_id), quantity in open_.items():
        if (product_id, order_id) not in held:
            breaches.append(f"product {product_id} holds {quantity} for order {order_id}, "
                            f"whose reservation is not HELD")
        elif held[product_id, order_id] != quantity:
            breaches.append(f"product {product_id} holds {quantity} for order {order_id}, "
                            f"its reservation says {held[product_id, order_id]}")
    breaches += [f"order {order_id}'s reservation is HELD but product {product_id} holds nothing for it"
                 for product_id, order_id in held if (product_id, order_id) not in open_]
    return judged(RESERVED_IS_OPEN, breaches, len(history.ledgers))


def _confirmed_backed(history: History) -> Check:
    reserved = Counter((event.originator_id, field_of(event, "order_id")) for event in history.facts(STOCK_RESERVED))
    authorized = Counter(field_of(event, "order_id") for event in history.facts(PAYMENT_AUTHORIZED))
    breaches = []
    examined = 0
    for order_id, order in history.orders.items():
        if order.status not in PAST_CONFIRMED:
            continue
        examined += 1
        for line in order.lines:
            count = reserved[line.product_id, order_id]
            if count != 1:
                breaches.append(f"order {order_id} ({order.status}): {count} Stock.Reserved for product "
                                f"{line.product_id}")
        reservations = history.reservations.get(order_id, [])
        was_held = [each for each in reservations
                    if history.streams[each.id].count(RESERVATION_HELD) == 1
                    and each.status is not ReservationStatus.RELEASED]
        if len(was_held) != 1:
            statuses = ", ".join(each.status for each in reservations) or "none"
            breaches.append(f"order {order_id} ({order.status}): no reservation held for it (reservations: "
                            f"{statuses})")
        if authorized[order_id] != 1:
            breaches.append(f"order {order_id} ({order.status}): {authorized[order_id]} Payment.Authorized")
        voided = [each.id for each in history.payments.get(order_id, []) if each.status is PaymentStatus.VOIDED]
        if voided:
            breaches.append(f"order {order_id} ({order.status}): its payment {voided[0]} was voided")
    return judged(CONFIRMED_BACKED, breaches, examined)


def _cancelled_settled(history: History, now: datetime, stuck_after: timedelta) -> Check:
    breaches = []
    notes = []
    examined = 0
    still_open = history.open_by_order()
    for order_id, order in history.orders.items():
        if order.status is not OrderStatus.CANCELLED:
            continue
        examined += 1
        problems = [f"reservation {each.id} is still HELD"
                    for each in history.reservations.get(order_id, []) if each.is_held]
        problems += [f"product {product_id} still reserves {quantity}"
                     for product_id, quantity in still_open.get(order_id, {}).items()]
        # A captured payment is worse than an uncaptured one: money taken for goods that never left.
        problems += [f"payment {each.id} is {each.status}" for each in history.payments.get(order_id, [])
                     if each.status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED)]
        if not problems:
            continue
        cancelled_at = history.streams[order_id].first_at(ORDER_CANCELLED) or history.streams[order_id].last_at
        line = f"order {order_id} (cancelled {_age(now, cancelled_at)} ago): {'; '.join(problems)}"
        if now - cancelled_at > stuck_after:
            breaches.append(line)
        else:
            notes.append(f"{line} (compensation may still be on its way)")
    return judged(CANCELLED_SETTLED, breaches, examined, notes)


def _nothing_stuck(history: History, now: datetime, stuck_after: timedelta) -> Check:
    breaches = []
    notes = []
    examined = 0

    def overdue(since: datetime) -> bool:
        return now - since > stuck_after

    for order_id, order in history.orders.items():
        if order.status in FINAL_STATUSES:
            continue
        examined += 1
        since = history.streams[order_id].last_at
        label = f"order {order_id} ({order.status} for {_age(now, since)})"
        shipments = history.shipments.get(order_id, [])
        shipment = shipments[0] if shipments else None
        shipped = history.streams[shipment.id] if shipment is not None else None
        if order.status is OrderStatus.PENDING:
            if overdue(since):
                breaches.append(f"{label}: neither confirmed nor cancelled")
        elif order.status is OrderStatus.CONFIRMED:
            if shipment is None or shipped is None:
                if overdue(since):
                    breaches.append(f"{label}: no shipment was created")
            elif shipment.status is ShipmentStatus.WAITING_FOR_COURIER:
                # Waiting is a person's business (a courier to come free) unless an on-duty one has been free
                # all along: then dispatching lost a wake-up and the sweeper has not made up for it.
                idle = min(history.free_couriers.items(), key=lambda item: item[1], default=None)
                if idle is not None and overdue(max(since, shipped.last_at, idle[1])):
                    breaches.append(f"{label}: shipment {shipment.id} waits for a courier, but courier {idle[0]} "
                                    f"has been free for {_age(now, idle[1])}")
                elif overdue(since):
                    notes.append(f"{label}: shipment {shipment.id} waits for a free courier")
            elif shipment.status is ShipmentStatus.ASSIGNED:
                # A person's business, like a courier still to come free: a courier who went silent loses the
                # shipment to another by the worker's courier watch, so a long wait is worth a look, not a breach.
                assigned_at = shipped.last_at_of(COURIER_ASSIGNED) or shipped.last_at
                notes.append(f"{label}: shipment {shipment.id} has had courier {shipment.courier_id} for "
                             f"{_age(now, assigned_at)}, on its way to pick it up")
            elif shipment.status in PICKED:
                # Measured from the pick-up, when the order goes in transit. Stores older than pick-ups had the
                # courier take the goods at the assignment.
                picked_up_at = (shipped.first_at(PICKED_UP) or shipped.first_at(COURIER_ASSIGNED)
                                or shipped.last_at)
                if overdue(picked_up_at):
                    breaches.append(f"{label}: shipment {shipment.id} was picked up {_age(now, picked_up_at)} "
                                    f"ago, the order never went in transit")
            elif overdue(max(since, shipped.last_at)):
                breaches.append(f"{label}: its shipment {shipment.id} is {shipment.status}")
        elif order.status is OrderStatus.IN_TRANSIT:
            delivered_at = shipped.first_at(SHIPMENT_DELIVERED) if shipped is not None else None
            if delivered_at is not None:
                if overdue(delivered_at):
                    breaches.append(f"{label}: its shipment was delivered {_age(now, delivered_at)} ago")
            elif overdue(since):
                notes.append(f"{label}: with its courier")
        elif order.status is OrderStatus.DELIVERED and overdue(since):
            notes.append(f"{label}: waits for the customer to confirm receipt")
    return judged(NOTHING_STUCK, breaches, examined, notes)


def _nothing_twice(history: History) -> Check:
    breaches: list[str] = []
    examined = 0

    def at_most_once(fact_topic: str, key: Callable[[Event], tuple[Any, ...]], label: str) -> None:
        nonlocal examined
        counted: Counter[tuple[Any, ...]] = Counter()
        for event in history.facts(fact_topic):
            examined += 1
            counted[key(event)] += 1
        breaches.extend(f"{label.format(*k)}: {n} times" for k, n in counted.items() if n > 1)

    at_most_once(STOCK_RESERVED, lambda e: (e.originator_id, field_of(e, "order_id")),
                 "Stock.Reserved of product {} for order {}")
    at_most_once(PAYMENT_REQUESTED, lambda e: (field_of(e, "order_id"),), "a payment for order {}")
    at_most_once(PAYMENT_AUTHORIZED, lambda e: (e.originator_id,), "Payment.Authorized of payment {}")
    at_most_once(PAYMENT_CAPTURED, lambda e: (e.originator_id,), "Payment.Captured of payment {}")
    at_most_once(ORDER_CONFIRMED, lambda e: (e.originator_id,), "Order.Confirmed of order {}")
    at_most_once(RESERVATION_REQUESTED, lambda e: (field_of(e, "order_id"),), "a stock reservation for order {}")
    at_most_once(SHIPMENT_CREATED, lambda e: (field_of(e, "order_id"),), "a shipment for order {}")
    # The ids derive from the order so that a second attempt conflicts in the store instead of being written.
    for event in history.facts(PAYMENT_REQUESTED):
        expected = Payment.create_id(field_of(event, "order_id"))
        if event.originator_id != expected:
            breaches.append(f"payment {event.originator_id} for order {field_of(event, 'order_id')}: "
                            f"not the order's deterministic id {expected}")
    return judged(NOTHING_TWICE, breaches, examined)


def check_invariants(events: Iterable[Event], *, now: datetime, stuck_after: timedelta,
                     undecodable: Sequence[str] = ()) -> list[Check]:
    """Judge a whole store's events; `now` is when ages are measured to, `stuck_after` the saga's deadline.

    `undecodable`: notifications that could not be turned back into domain events, a breach of their own.
    """
    history = replay_history(events)
    return [
        _streams_replay(history, undecodable),
        _stock_levels(history),
        _reserved_is_open(history),
        _confirmed_backed(history),
        _cancelled_settled(history, now, stuck_after),
        _nothing_stuck(history, now, stuck_after),
        _nothing_twice(history),
    ]
