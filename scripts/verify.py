"""`logistics verify`: replay every stream of the four contexts and check the platform's invariants.

Two halves, so that the checks can be tested without a database:

- `load_events` reads every event of every context, in each context's log order;
- `check_invariants` is pure: it takes those events (and the moment to judge ages against) and returns one
  `Check` per invariant, each saying whether it holds and, when it does not, what breaks it.

What counts as a breach, and what is only worth knowing:

- A saga step that is still on its way is not a breach. The contexts are read one after the other while the
  platform may be running, so a compensation (release stock, void a payment) or an order's next step may land
  between two reads. Such states are breaches only once they are older than the deadline (`stuck_after`); before
  that they are reported as notes.
- An order that waits on a person (a courier to become free, a courier to deliver, a customer to confirm
  receipt) is not stuck by the saga's fault: it is reported as a note, never as a breach.
- An order is stuck (a breach) when the saga should have moved it and has not for longer than the deadline:
  PENDING; CONFIRMED without a shipment, or with one that waits for a courier while a courier has been free
  all along; CONFIRMED although its shipment has had a courier; IN_TRANSIT although its shipment was delivered.
- The dispatch index (rows kept beside the shipping events, `commands.dispatch_index`) must say what the
  shipping log says: it is read in one snapshot with the log position it reflects, and compared with the rows
  the log up to there implies.

Every event is held in memory while the checks run: fine for a store of millions of events, not for billions.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate, DomainEventProtocol
from rich.console import Console
from rich.table import Table
from rich.text import Text

from commands.dispatch_index import CourierRow, WaitingRow, index_of, same_rows
from commands.policies import fact
from domain.order import FINAL_STATUSES, Order, OrderStatus
from domain.payment import Payment, PaymentStatus
from domain.reservation import ReservationStatus, StockReservation
from domain.shipping import Courier, Shipment, ShipmentStatus
from domain.stock import Stock

if TYPE_CHECKING:
    from adapters.database import Database
    from adapters.settings import Settings
    from queries.parked import ParkedEvent

Event = DomainEventProtocol[UUID]

PAGE_SIZE: Final = 500
SHOWN_PER_CHECK: Final = 10
STUCK_MARGIN_S: Final = 60.0
"""The default deadline is the payment timeout plus this: by then every saga step should have happened."""

EXIT_HOLDS: Final = 0
EXIT_BREACHED: Final = 1
EXIT_UNREADABLE: Final = 2

STREAMS_REPLAY: Final = "every stream replays"
STOCK_LEVELS: Final = "stock on hand never negative, never below reserved"
RESERVED_IS_OPEN: Final = "reserved stock = open reservations"
CONFIRMED_BACKED: Final = "confirmed orders: one reservation per line, one authorized payment"
CANCELLED_SETTLED: Final = "cancelled orders hold no stock and no authorization"
NOTHING_STUCK: Final = "no order stuck"
NOTHING_TWICE: Final = "no fact recorded twice"
DISPATCH_INDEX: Final = "the dispatch index agrees with the shipping log"
NOTHING_PARKED: Final = "no event parked or held by a follower"

PRODUCT_CREATED = fact(Stock, "ProductCreated")
RESTOCKED = fact(Stock, "Restocked")
STOCK_RESERVED = fact(Stock, "Reserved")
STOCK_RELEASED = fact(Stock, "Released")
STOCK_COMMITTED = fact(Stock, "Committed")
RESERVATION_REQUESTED = fact(StockReservation, "Requested")
RESERVATION_HELD = fact(StockReservation, "Held")
PAYMENT_REQUESTED = fact(Payment, "Requested")
PAYMENT_AUTHORIZED = fact(Payment, "Authorized")
PAYMENT_CAPTURED = fact(Payment, "Captured")
ORDER_CONFIRMED = fact(Order, "Confirmed")
ORDER_CANCELLED = fact(Order, "Cancelled")
SHIPMENT_CREATED = fact(Shipment, "Created")
COURIER_ASSIGNED = fact(Shipment, "CourierAssigned")
COURIER_FREED = frozenset({fact(Courier, "Registered"), fact(Courier, "BecameAvailable")})
SHIPMENT_DELIVERED = fact(Shipment, "Delivered")

PAST_CONFIRMED: Final = frozenset({
    OrderStatus.CONFIRMED, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED, OrderStatus.RECEIVED,
})
HAS_COURIER: Final = frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED})


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


def _check(name: str, breaches: Sequence[str], examined: int, notes: Sequence[str] = ()) -> Check:
    return Check(name, not breaches, list(breaches), examined, list(notes))


# Reading the store.


@dataclass(frozen=True)
class DispatchRows:
    couriers: list[CourierRow]
    waiting: list[WaitingRow]


@dataclass(frozen=True)
class Loaded:
    events: list[Event]
    undecodable: list[str]
    """Notifications that could not be turned back into domain events: a breach of their own."""
    dispatch_index: DispatchRows | None = None
    """The dispatch index's rows, as of the last shipping event read."""


def load_events(database: "Database") -> Loaded:
    """Every event of every context, each context in its log order.

    Orders is read first on purpose: an order moves only after another context's fact was committed, so every
    fact an order we read has acted on is already there when the other contexts are read after it.
    """
    from adapters.dispatch_index import DispatchIndexRecorder
    from composition.contexts import CONTEXT_APPLICATIONS

    env = database.eventsourcing_env(pool_size=1, max_overflow=1)
    events: list[Event] = []
    undecodable: list[str] = []
    dispatch_index: DispatchRows | None = None
    for application_class in CONTEXT_APPLICATIONS:
        application = application_class(env=env)
        try:
            position = 0
            stop: int | None = None
            if isinstance(application.recorder, DispatchIndexRecorder):
                # The rows and the log position they reflect in one snapshot; the log is then read up to there.
                snapshot = application.recorder.snapshot()
                dispatch_index = DispatchRows(snapshot.couriers, snapshot.waiting)
                stop = snapshot.up_to
            while stop is None or position < stop:
                page = application.recorder.select_notifications(position, limit=PAGE_SIZE, stop=stop,
                                                                 inclusive_of_start=False)
                if not page:
                    break
                for notification in page:
                    try:
                        events.append(application.mapper.to_domain_event(notification))
                    except Exception as error:  # reported, not raised: one bad record must not hide the rest
                        undecodable.append(f"{application.name} #{notification.id} {notification.topic}: {error!r}")
                position = page[-1].id
        finally:
            application.close()
    return Loaded(events, undecodable, dispatch_index)


# The pure half.


def _topic(event: Event) -> str:
    return f"{type(event).__module__}:{type(event).__qualname__}"


def _field(event: Event, name: str) -> Any:
    """An event's own attribute; the protocol only promises the originator's id and version."""
    return vars(event).get(name)


def _timestamp(event: Event) -> datetime:
    value = _field(event, "timestamp")
    if not isinstance(value, datetime):
        raise TypeError(f"event {_topic(event)} of {event.originator_id} has no timestamp")
    return value


def _age(now: datetime, since: datetime) -> str:
    return f"{(now - since).total_seconds():.0f}s"


@dataclass
class _Stream:
    id: UUID
    events: list[Event]
    error: str | None = None

    @property
    def last_at(self) -> datetime:
        return _timestamp(self.events[-1])

    def first_at(self, topic: str) -> datetime | None:
        return next((_timestamp(event) for event in self.events if _topic(event) == topic), None)

    def count(self, topic: str) -> int:
        return sum(1 for event in self.events if _topic(event) == topic)


@dataclass
class _Ledger:
    """One product's stock worked out from its events alone, without the aggregate's own arithmetic."""

    on_hand: int = 0
    open: dict[UUID, int] = field(default_factory=dict)
    """Order -> quantity of its Reserved events not yet released or committed."""
    first_breach: str | None = None


def _ledger(stream: _Stream) -> _Ledger:
    ledger = _Ledger()
    for event in stream.events:
        topic = _topic(event)
        if topic == PRODUCT_CREATED:
            ledger.on_hand = int(_field(event, "initial_stock"))
        elif topic == RESTOCKED:
            ledger.on_hand += int(_field(event, "quantity"))
        elif topic == STOCK_RESERVED:
            ledger.open[_field(event, "order_id")] = int(_field(event, "quantity"))
        elif topic == STOCK_RELEASED:
            ledger.open.pop(_field(event, "order_id"), None)
        elif topic == STOCK_COMMITTED:
            ledger.on_hand -= int(_field(event, "quantity"))
            ledger.open.pop(_field(event, "order_id"), None)
        reserved = sum(ledger.open.values())
        if ledger.first_breach is None and (ledger.on_hand < 0 or reserved > ledger.on_hand):
            ledger.first_breach = (f"product {stream.id}: at v{event.originator_version} on hand {ledger.on_hand}, "
                                   f"reserved {reserved}")
    return ledger


@dataclass
class _History:
    streams: dict[UUID, _Stream]
    orders: dict[UUID, Order]
    stocks: dict[UUID, Stock]
    ledgers: dict[UUID, _Ledger]
    reservations: dict[UUID, list[StockReservation]]
    payments: dict[UUID, list[Payment]]
    shipments: dict[UUID, list[Shipment]]
    """The last three by order id."""
    free_couriers: dict[UUID, datetime] = field(default_factory=dict)
    """Couriers free at the end of the history, and since when."""

    def open_by_order(self) -> dict[UUID, dict[UUID, int]]:
        """Order -> product -> quantity the stocks still hold for it."""
        held: dict[UUID, dict[UUID, int]] = defaultdict(dict)
        for product_id, ledger in self.ledgers.items():
            for order_id, quantity in ledger.open.items():
                held[order_id][product_id] = quantity
        return held

    def facts(self, topic: str) -> Iterable[Event]:
        for stream in self.streams.values():
            yield from (event for event in stream.events if _topic(event) == topic)


def _replay(events: Iterable[Event]) -> _History:
    by_stream: dict[UUID, list[Event]] = defaultdict(list)
    for event in events:
        by_stream[event.originator_id].append(event)
    history = _History({}, {}, {}, {}, defaultdict(list), defaultdict(list), defaultdict(list))
    for stream_id, stream_events in by_stream.items():
        stream = _Stream(stream_id, sorted(stream_events, key=lambda event: event.originator_version))
        history.streams[stream_id] = stream
        try:
            replayed: Aggregate | None = project_aggregate(None, stream.events)
        except Exception as error:  # any failure to replay is the finding itself
            stream.error = f"{type(error).__name__}: {error}"
            continue
        if isinstance(replayed, Order):
            history.orders[stream_id] = replayed
        elif isinstance(replayed, Stock):
            history.stocks[stream_id] = replayed
            history.ledgers[stream_id] = _ledger(stream)
        elif isinstance(replayed, StockReservation):
            history.reservations[replayed.order_id].append(replayed)
        elif isinstance(replayed, Payment):
            history.payments[replayed.order_id].append(replayed)
        elif isinstance(replayed, Shipment):
            history.shipments[replayed.order_id].append(replayed)
        elif isinstance(replayed, Courier) and replayed.is_available:
            history.free_couriers[stream_id] = max(_timestamp(event) for event in stream.events
                                                   if _topic(event) in COURIER_FREED)
        # Anything else (the retired Dispatcher's streams of older stores) only has to replay.
    return history


def _streams_replay(history: _History, undecodable: Sequence[str]) -> Check:
    breaches = [f"undecodable: {problem}" for problem in undecodable]
    breaches += [f"stream {stream.id} ({_topic(stream.events[0])}): {stream.error}"
                 for stream in history.streams.values() if stream.error is not None]
    return _check(STREAMS_REPLAY, breaches, len(history.streams))


def _stock_levels(history: _History) -> Check:
    breaches = []
    for product_id, ledger in history.ledgers.items():
        if ledger.first_breach is not None:
            breaches.append(ledger.first_breach)
        stock = history.stocks[product_id]
        if stock.on_hand != ledger.on_hand:
            breaches.append(f"product {product_id}: the aggregate has {stock.on_hand} on hand, "
                            f"initial + restocked - committed is {ledger.on_hand}")
    return _check(STOCK_LEVELS, breaches, len(history.ledgers))


def _reserved_is_open(history: _History) -> Check:
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
    return _check(RESERVED_IS_OPEN, breaches, len(history.ledgers))


def _confirmed_backed(history: _History) -> Check:
    reserved = Counter((event.originator_id, _field(event, "order_id")) for event in history.facts(STOCK_RESERVED))
    authorized = Counter(_field(event, "order_id") for event in history.facts(PAYMENT_AUTHORIZED))
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
    return _check(CONFIRMED_BACKED, breaches, examined)


def _cancelled_settled(history: _History, now: datetime, stuck_after: timedelta) -> Check:
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
    return _check(CANCELLED_SETTLED, breaches, examined, notes)


def _nothing_stuck(history: _History, now: datetime, stuck_after: timedelta) -> Check:
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
                # Waiting is a person's business (a courier to come free) unless one has been free all along:
                # then dispatching lost a wake-up and the sweeper has not made up for it.
                idle = min(history.free_couriers.items(), key=lambda item: item[1], default=None)
                if idle is not None and overdue(max(since, shipped.last_at, idle[1])):
                    breaches.append(f"{label}: shipment {shipment.id} waits for a courier, but courier {idle[0]} "
                                    f"has been free for {_age(now, idle[1])}")
                elif overdue(since):
                    notes.append(f"{label}: shipment {shipment.id} waits for a free courier")
            elif shipment.status in HAS_COURIER:
                # Measured from the assignment: a courier may free up long after the order was confirmed.
                assigned_at = shipped.first_at(COURIER_ASSIGNED) or shipped.last_at
                if overdue(assigned_at):
                    breaches.append(f"{label}: shipment {shipment.id} has had a courier for "
                                    f"{_age(now, assigned_at)}, the order never went in transit")
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
    return _check(NOTHING_STUCK, breaches, examined, notes)


def _nothing_twice(history: _History) -> Check:
    breaches: list[str] = []
    examined = 0

    def at_most_once(topic: str, key: Callable[[Event], tuple[Any, ...]], label: str) -> None:
        nonlocal examined
        counted: Counter[tuple[Any, ...]] = Counter()
        for event in history.facts(topic):
            examined += 1
            counted[key(event)] += 1
        breaches.extend(f"{label.format(*k)}: {n} times" for k, n in counted.items() if n > 1)

    at_most_once(STOCK_RESERVED, lambda e: (e.originator_id, _field(e, "order_id")),
                 "Stock.Reserved of product {} for order {}")
    at_most_once(PAYMENT_REQUESTED, lambda e: (_field(e, "order_id"),), "a payment for order {}")
    at_most_once(PAYMENT_AUTHORIZED, lambda e: (e.originator_id,), "Payment.Authorized of payment {}")
    at_most_once(PAYMENT_CAPTURED, lambda e: (e.originator_id,), "Payment.Captured of payment {}")
    at_most_once(ORDER_CONFIRMED, lambda e: (e.originator_id,), "Order.Confirmed of order {}")
    at_most_once(RESERVATION_REQUESTED, lambda e: (_field(e, "order_id"),), "a stock reservation for order {}")
    at_most_once(SHIPMENT_CREATED, lambda e: (_field(e, "order_id"),), "a shipment for order {}")
    # The ids derive from the order so that a second attempt conflicts in the store instead of being written.
    for event in history.facts(PAYMENT_REQUESTED):
        expected = Payment.create_id(_field(event, "order_id"))
        if event.originator_id != expected:
            breaches.append(f"payment {event.originator_id} for order {_field(event, 'order_id')}: "
                            f"not the order's deterministic id {expected}")
    return _check(NOTHING_TWICE, breaches, examined)


def _dispatch_index(events: Sequence[Event], rows: DispatchRows | None) -> Check:
    if rows is None:
        return _check(DISPATCH_INDEX, [], 0)
    expected = index_of(events)
    breaches = same_rows(expected, rows.couriers, rows.waiting)
    return _check(DISPATCH_INDEX, breaches, len(expected.couriers) + len(expected.waiting))


def check_invariants(
    events: Iterable[Event],
    *,
    now: datetime,
    stuck_after: timedelta,
    undecodable: Sequence[str] = (),
    dispatch_index: DispatchRows | None = None,
) -> list[Check]:
    """Judge a whole store's events; `now` is when ages are measured to, `stuck_after` the saga's deadline.

    `dispatch_index`: the index's rows as of the last shipping event given (not judged without them).
    """
    events = list(events)
    history = _replay(events)
    return [
        _streams_replay(history, undecodable),
        _stock_levels(history),
        _reserved_is_open(history),
        _confirmed_backed(history),
        _cancelled_settled(history, now, stuck_after),
        _nothing_stuck(history, now, stuck_after),
        _nothing_twice(history),
        _dispatch_index(events, dispatch_index),
    ]


def nothing_parked(rows: Sequence["ParkedEvent"]) -> Check:
    """A parked event is one a follower never applied (nor what it holds): the read side or the saga is short
    of it until an operator retries or skips it."""
    breaches = [f"{row.follower}: {row.topic.rsplit(':', 1)[-1]} of {row.originator_id} at position "
                f"{row.notification_id} is {row.status} (`logistics parked show {row.id}`)" for row in rows]
    return _check(NOTHING_PARKED, breaches, len(rows))


def load_parked(database: "Database") -> list["ParkedEvent"]:
    import psycopg

    from queries.parked import parked_events

    with database.connect() as connection:
        try:
            return parked_events(connection, limit=1000)
        except psycopg.errors.UndefinedTable:  # a store migrated before parking existed has parked nothing
            return []


# Reporting.


def report(checks: Sequence[Check], console: Console, events: int) -> None:
    table = Table(title=f"logistics verify: {events} events replayed", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("invariant")
    table.add_column("examined", justify="right")
    table.add_column("breaches", justify="right")
    table.add_column("notes", justify="right")
    for check in checks:
        mark = Text("✓", style="green") if check.holds else Text("✗", style="bold red")
        table.add_row(mark, check.name, str(check.examined), str(len(check.details)), str(len(check.notes)))
    console.print(table)
    for check in checks:
        _listing(console, "✗", "bold red", f"{check.name}: {_count(check.details, 'breach', 'breaches')}",
                 check.details)
    for check in checks:
        _listing(console, "i", "yellow", f"{check.name}: {_count(check.notes, 'note', 'notes')}", check.notes)
    breached = [check for check in checks if not check.holds]
    if breached:
        console.print(Text(f"{len(breached)} of {len(checks)} invariants breached", style="bold red"))
    else:
        console.print(Text(f"all {len(checks)} invariants hold", style="green"))


def _count(items: Sequence[str], one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}"


def _listing(console: Console, mark: str, style: str, heading: str, lines: Sequence[str]) -> None:
    if not lines:
        return
    console.print(Text(f"{mark} {heading}", style=style), soft_wrap=True)
    # Texts, not markup: the details are data and may contain brackets.
    for line in lines[:SHOWN_PER_CHECK]:
        console.print(Text(f"  - {line}"), soft_wrap=True)
    if len(lines) > SHOWN_PER_CHECK:
        console.print(Text(f"  … and {len(lines) - SHOWN_PER_CHECK} more"))


def run_verify(settings: "Settings", stuck_after_s: float | None = None, console: Console | None = None) -> int:
    """Read the configured store, print what holds and what does not; the process exit code."""
    from composition.database import locate_database

    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            # Piped or captured output would be cut at 80 columns, and ids are what an operator greps for.
            console.width = 160
    stuck_after = timedelta(seconds=stuck_after_s if stuck_after_s is not None
                            else settings.payment_timeout_s + STUCK_MARGIN_S)
    try:
        database = locate_database(settings)
        loaded = load_events(database)
        parked = load_parked(database)
    except Exception as error:  # the store itself is unreadable (no tables, no server): say so, plainly
        console.print(Text(f"cannot read the event store ({type(error).__name__}: {error}); "
                           "`logistics migrate` sets it up", style="bold red"))
        return EXIT_UNREADABLE
    checks = check_invariants(loaded.events, now=datetime.now(UTC), stuck_after=stuck_after,
                              undecodable=loaded.undecodable, dispatch_index=loaded.dispatch_index)
    checks.append(nothing_parked(parked))
    report(checks, console, len(loaded.events))
    return EXIT_HOLDS if all(check.holds for check in checks) else EXIT_BREACHED

