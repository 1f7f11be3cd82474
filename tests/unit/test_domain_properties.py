"""Properties of the domain under arbitrary sequences of commands, valid and invalid (hypothesis.stateful).

Each machine below drives aggregates (and, for shipping, the in-memory Shipping application, whose dispatching
decisions span several aggregates) with whatever hypothesis draws. After every step the invariants must hold,
and every aggregate rebuilt from the events it recorded must equal the aggregate itself (the event-sourcing
round trip). A command the domain refuses must raise one of the domain's own errors and leave every aggregate
it touches exactly as it was, with no event recorded.

- Stock and StockReservation: on hand never negative, reserved never above on hand, and a reservation is held
  or rejected as a whole: held, every line's stock holds its quantity for the order; otherwise none holds any.
- Order: the status moves only along its allowed transitions, a final order never changes, and an order is
  never confirmed (or further) without both its stock reserved and its payment authorized.
- Payment: captured at most once, never after a void, only from an authorization.
- Shipping: a courier holds at most one shipment, a busy courier's is its own, a shipment waits only while no
  courier is free, and the dispatch index's queue is exactly the waiting shipments, oldest first.
No I/O: aggregates in memory, and the application on the library's in-memory (POPO) persistence.
"""

import itertools
from collections.abc import Callable, Sequence
from copy import deepcopy
from decimal import Decimal
from typing import Any, Final
from uuid import UUID, uuid5

import hypothesis.strategies as st
import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from commands.errors import NotFound
from commands.ports import Checkpoint
from commands.shipping import Shipping
from domain.errors import DomainError, InsufficientStock, InvalidTransition, InvalidValue, ProductDiscontinued
from domain.identity import Actor, Role
from domain.order import FINAL_STATUSES, CancelReason, Order, OrderStatus
from domain.payment import Payment, PaymentStatus
from domain.reservation import ReservationStatus, StockReservation
from domain.shipping import Courier, CourierStatus, Shipment, ShipmentStatus
from domain.stock import Stock
from domain.values import DeliveryAddress, OrderLine

BOUNDED: Final = settings(stateful_step_count=40, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
EXAMPLES: Final = {"StockMachine": 80, "OrderMachine": 100, "PaymentMachine": 60, "ShippingMachine": 60}
"""Runs per machine, each up to 40 steps. Orders get the most: the longest lives (as far as the receipt) are the
rarest draws. Against hand-made mutants of the domain (reserving beyond what is available, voiding a capture,
receipt in transit, confirming on one outcome, a freed courier ignoring the queue, a cancelled shipment keeping
its courier) these caught every one in eight runs out of eight."""
NAMESPACE: Final = UUID(int=0)
HOME: Final = DeliveryAddress("Jl. Jaksa 5, Jakarta", -6.186, 106.83)

# Text and numbers as clients send them, the invalid ones included.
QUANTITIES: Final = st.integers(min_value=-3, max_value=25)
REASONS: Final = st.sampled_from(["recount", "delivery", "", "   ", "bad\x00reason"])
PRICES: Final = st.sampled_from(["3.50", "12", "0.01", "0", "-1.00", "1e2", "1.234", "abc"])
NAMES: Final = st.sampled_from(["Teh Botol", "Kopi Susu", "", "  ", "x" * 201])
LATITUDES: Final = st.one_of(st.floats(min_value=-6.35, max_value=-6.05), st.sampled_from([-91.0, 95.5]))
LONGITUDES: Final = st.one_of(st.floats(min_value=106.7, max_value=106.95), st.sampled_from([181.0, -200.0]))


def refused(command: Callable[[], object], error: type[Exception], *touched: Aggregate) -> None:
    """`command` raises `error` and leaves every aggregate it could touch as it was, with no new event."""
    assert all(aggregate.pending_events == [] for aggregate in touched), "collect earlier events first"
    before = deepcopy(list(touched))
    with pytest.raises(error):
        command()
    assert [aggregate.pending_events for aggregate in touched] == [[] for _ in touched], "a refusal recorded events"
    assert list(touched) == before, "a refusal changed state"


class EventLog:
    """Every event each aggregate recorded, collected after every step, for the round trip."""

    def __init__(self) -> None:
        self.events: dict[UUID, list[Any]] = {}
        self.touched: set[UUID] = set()

    def collect(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self.events.setdefault(aggregate.id, []).extend(aggregate.collect_events())
            self.touched.add(aggregate.id)

    def assert_replays(self, *aggregates: Aggregate) -> None:
        """Each of these the last step touched, rebuilt from all its events, equals the aggregate itself.

        (One the step left alone was checked when it was last touched; the refusals check it did not change.)
        """
        for aggregate in aggregates:
            if aggregate.id in self.touched:
                rebuilt = project_aggregate(None, self.events[aggregate.id])
                assert rebuilt == aggregate, f"{type(aggregate).__name__} rebuilt from its events differs"
        self.touched.clear()

    def names(self, aggregate: Aggregate) -> list[str]:
        return [type(event).__name__ for event in self.events.get(aggregate.id, [])]


# -- stock and reservations -------------------------------------------------------------------------------------


class StockMachine(RuleBasedStateMachine):
    """Three products; orders reserve several of them at once, then release or commit what they hold."""

    def __init__(self) -> None:
        super().__init__()
        self.log = EventLog()
        self.stocks: list[Stock] = []
        self.on_hand: list[int] = []
        """What each stock must have on hand: the initial stock, plus restocks, minus committed units."""
        self.reservations: list[StockReservation] = []
        self.orders = 0

    @initialize(initial=st.lists(st.integers(min_value=1, max_value=20), min_size=3, max_size=3))
    def create_products(self, initial: list[int]) -> None:
        for index, amount in enumerate(initial):
            self.stocks.append(Stock.create(f"SKU-{index}", f"Product {index}", "2.50", amount))
            self.on_hand.append(amount)
        self.log.collect(*self.stocks)

    @property
    def by_id(self) -> dict[UUID, Stock]:
        return {stock.id: stock for stock in self.stocks}

    @rule(index=st.integers(0, 2), amount=QUANTITIES, reason=REASONS)
    def restock(self, index: int, amount: int, reason: str) -> None:
        stock = self.stocks[index]
        if stock.discontinued or amount < 1 or not reason.strip() or "\x00" in reason:
            refused(lambda: stock.restock(amount, reason), DomainError, stock)
            return
        stock.restock(amount, reason)
        self.on_hand[index] += amount
        self.log.collect(stock)

    @rule(wanted=st.dictionaries(st.integers(0, 2), st.integers(1, 15), min_size=1, max_size=3))
    def reserve_an_order(self, wanted: dict[int, int]) -> None:
        order_id = uuid5(NAMESPACE, f"order-{self.orders}")
        self.orders += 1
        lines = [OrderLine(self.stocks[index].id, amount, self.stocks[index].price) for index, amount in wanted.items()]
        can_have = all(not self.stocks[index].discontinued and amount <= self.stocks[index].available
                       for index, amount in wanted.items())
        reservation = StockReservation.reserve(order_id, lines, self.by_id)
        assert reservation.status is (ReservationStatus.HELD if can_have else ReservationStatus.REJECTED)
        self.reservations.append(reservation)
        self.log.collect(reservation, *self.stocks)

    @precondition(lambda self: self.reservations)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        reservation = self.reservations[data.draw(st.integers(0, len(self.reservations) - 1))]
        if not reservation.is_held:
            refused(lambda: reservation.release(self.by_id), InvalidTransition, reservation, *self.stocks)
            return
        reservation.release(self.by_id)
        self.log.collect(reservation, *self.stocks)

    @precondition(lambda self: self.reservations)
    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        reservation = self.reservations[data.draw(st.integers(0, len(self.reservations) - 1))]
        if not reservation.is_held:
            refused(lambda: reservation.commit(self.by_id), InvalidTransition, reservation, *self.stocks)
            return
        reservation.commit(self.by_id)
        for line in reservation.lines:
            self.on_hand[self.stocks.index(self.by_id[line.product_id])] -= line.quantity
        self.log.collect(reservation, *self.stocks)

    @rule(index=st.integers(0, 2), beyond=st.integers(-1, 2))
    def reserve_at_the_edge(self, index: int, beyond: int) -> None:
        """An order for just what is available, a unit less, or a unit or two more: held exactly up to the edge."""
        amount = self.stocks[index].available + beyond
        if amount >= 1:
            self.reserve_an_order({index: amount})

    @rule(index=st.integers(0, 2), amount=st.integers(1, 40))
    def reserve_beyond_what_is_available(self, index: int, amount: int) -> None:
        """Asked of the stock alone, for more than it has: refused as a whole."""
        stock = self.stocks[index]
        if stock.available >= amount:
            return
        error = ProductDiscontinued if stock.discontinued else InsufficientStock
        refused(lambda: stock.reserve(uuid5(NAMESPACE, "greedy"), amount), error, stock)

    @rule(index=st.integers(0, 2))
    def discontinue(self, index: int) -> None:
        self.stocks[index].discontinue()
        self.log.collect(self.stocks[index])

    @rule(index=st.integers(0, 2), name=st.none() | NAMES, price=st.none() | PRICES)
    def update(self, index: int, name: str | None, price: str | None) -> None:
        stock = self.stocks[index]
        try:
            before = deepcopy(stock)
            stock.update(name=name, price=price)
        except DomainError:
            assert stock == before, "a refused update changed the product"
            assert stock.pending_events == []
            assert stock.discontinued or name is not None or price is not None
        self.log.collect(stock)

    @invariant()
    def stock_levels_hold(self) -> None:
        for stock, on_hand in zip(self.stocks, self.on_hand, strict=True):
            assert stock.on_hand == on_hand
            assert stock.on_hand >= 0, "stock on hand went negative"
            assert 0 <= stock.reserved <= stock.on_hand, "more reserved than on hand"
            assert stock.available == stock.on_hand - stock.reserved

    @invariant()
    def a_reservation_is_held_whole_or_not_at_all(self) -> None:
        held_per_stock = {stock.id: 0 for stock in self.stocks}
        for reservation in self.reservations:
            holds = {line.product_id: self.by_id[line.product_id].reservations.get(reservation.order_id)
                     for line in reservation.lines}
            if reservation.is_held:
                assert holds == {line.product_id: line.quantity for line in reservation.lines}
                for line in reservation.lines:
                    held_per_stock[line.product_id] += line.quantity
            else:
                assert set(holds.values()) == {None}, f"a {reservation.status} reservation still holds units"
        assert held_per_stock == {stock.id: stock.reserved for stock in self.stocks}, "units held by no reservation"

    @invariant()
    def events_rebuild_every_aggregate(self) -> None:
        self.log.assert_replays(*self.stocks, *self.reservations)


# -- orders -----------------------------------------------------------------------------------------------------

ALLOWED_MOVES: Final = {
    (OrderStatus.PENDING, OrderStatus.CONFIRMED), (OrderStatus.PENDING, OrderStatus.CANCELLED),
    (OrderStatus.CONFIRMED, OrderStatus.IN_TRANSIT), (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
    (OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED), (OrderStatus.DELIVERED, OrderStatus.RECEIVED),
}
REQUIRES: Final = {"cancel": {OrderStatus.PENDING, OrderStatus.CONFIRMED}, "mark_in_transit": {OrderStatus.CONFIRMED},
                   "mark_delivered": {OrderStatus.IN_TRANSIT}, "confirm_receipt": {OrderStatus.DELIVERED}}
"""The statuses each customer or shipping command is accepted in; elsewhere it is an InvalidTransition."""


def order_commands(order: Order, note: str | None = None) -> dict[str, Callable[[], None]]:
    """The customer's and shipping's commands, bound to one order."""
    shipment_id, courier_id = uuid5(NAMESPACE, "shipment"), uuid5(NAMESPACE, "courier")
    return {
        "cancel": lambda: order.cancel(CancelReason.CUSTOMER_CANCELLED, note),
        "mark_in_transit": lambda: order.mark_in_transit(shipment_id, courier_id),
        "mark_delivered": order.mark_delivered,
        "confirm_receipt": order.confirm_receipt,
    }


CONFIRMED_OR_LATER: Final = frozenset({OrderStatus.CONFIRMED, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED,
                                       OrderStatus.RECEIVED})


class OrderMachine(RuleBasedStateMachine):
    """Orders one after another, each told the saga's outcomes and the customer's and courier's commands in any
    order, repeatedly; once the last one is final the next is placed, and the final ones are told everything
    again now and then (to no effect)."""

    def __init__(self) -> None:
        super().__init__()
        self.log = EventLog()
        self.orders: list[Order] = []
        self.statuses: dict[UUID, list[OrderStatus]] = {}
        self.place()

    @property
    def order(self) -> Order:
        return self.orders[-1]

    def place(self) -> None:
        order = Order.place("alice", [OrderLine(uuid5(NAMESPACE, "tea"), 2, Decimal("3.50"))], "tok_ok", HOME)
        self.orders.append(order)
        self.statuses[order.id] = []
        self.moved()

    def moved(self) -> None:
        self.log.collect(self.order)
        self.statuses[self.order.id].append(self.order.status)
        if self.order.is_final:
            self.place()

    @precondition(lambda self: len(self.orders) > 1)
    @rule(data=st.data())
    def a_final_order_ignores_everything(self, data: st.DataObject) -> None:
        order = self.orders[data.draw(st.integers(0, len(self.orders) - 2))]
        for outcome in (Order.record_stock_reserved, Order.record_stock_rejected, Order.record_payment_authorized,
                        Order.record_payment_declined, Order.record_payment_timed_out):
            before = deepcopy(order)
            outcome(order)
            assert order == before, "a final order took a saga outcome"
        for command in order_commands(order).values():
            refused(command, InvalidTransition, order)
        self.statuses[order.id].append(order.status)

    # One rule per command, so that hypothesis can leave some out of a run (the cancelling ones, say) and get far.

    @rule()
    def stock_reserved(self) -> None:
        self.saga_outcome(Order.record_stock_reserved)

    @rule()
    def stock_rejected(self) -> None:
        self.saga_outcome(Order.record_stock_rejected)

    @rule()
    def payment_authorized(self) -> None:
        self.saga_outcome(Order.record_payment_authorized)

    @rule()
    def payment_declined(self) -> None:
        self.saga_outcome(Order.record_payment_declined)

    @rule()
    def payment_timed_out(self) -> None:
        self.saga_outcome(Order.record_payment_timed_out)

    @rule(note=st.sampled_from([None, "changed my mind", "bad\x07note"]))
    def cancel(self, note: str | None) -> None:
        self.command("cancel", note=note)

    @rule()
    def go_in_transit(self) -> None:
        self.command("mark_in_transit")

    @rule()
    def deliver(self) -> None:
        self.command("mark_delivered")

    @rule()
    def confirm_receipt(self) -> None:
        self.command("confirm_receipt")

    def saga_outcome(self, outcome: Callable[[Order], None]) -> None:
        """Told in any state: an outcome that no longer matters changes nothing, and never raises."""
        outcome(self.order)
        self.moved()

    def command(self, name: str, note: str | None = None) -> None:
        """Accepted only in the statuses REQUIRES names; refused elsewhere (or for bad text) with nothing changed."""
        run = order_commands(self.order, note)[name]
        if self.order.status not in REQUIRES[name]:
            refused(run, InvalidTransition, self.order)
        elif note is not None and "\x07" in note:
            refused(run, InvalidValue, self.order)
        else:
            run()
        self.moved()

    @invariant()
    def each_command_is_accepted_exactly_where_allowed(self) -> None:
        """Every command tried on a copy of the order as it stands: the transitions are exactly the table's."""
        for name, accepted in REQUIRES.items():
            trial = deepcopy(self.order)
            run = order_commands(trial)[name]
            if trial.status in accepted:
                run()
                assert (self.order.status, trial.status) in ALLOWED_MOVES
            else:
                with pytest.raises(InvalidTransition):
                    run()
                assert trial == self.order, "a refusal changed state"
                assert trial.pending_events == [], "a refusal recorded events"

    @invariant()
    def the_status_moves_only_along_allowed_transitions(self) -> None:
        for statuses in self.statuses.values():
            for before, now in itertools.pairwise(statuses):
                assert before == now or (before, now) in ALLOWED_MOVES, f"{before} -> {now}"

    @invariant()
    def a_final_order_never_changes(self) -> None:
        for statuses in self.statuses.values():
            final_at = next((i for i, status in enumerate(statuses) if status in FINAL_STATUSES), None)
            if final_at is not None:
                assert set(statuses[final_at:]) == {statuses[final_at]}, f"changed after {statuses[final_at]}"

    @invariant()
    def never_confirmed_without_stock_and_payment(self) -> None:
        for order in self.orders:
            statuses = self.statuses[order.id]
            if OrderStatus.CONFIRMED in statuses:
                assert order.stock_reserved
                assert order.payment_authorized
            if order.status in CONFIRMED_OR_LATER:
                assert OrderStatus.CONFIRMED in statuses, "went on without being confirmed"
            assert self.log.names(order).count("Confirmed") <= 1

    @invariant()
    def cancelled_with_a_reason_and_only_then(self) -> None:
        for order in self.orders:
            assert (order.cancel_reason is not None) == (order.status is OrderStatus.CANCELLED)

    @invariant()
    def events_rebuild_every_order(self) -> None:
        assert not self.order.is_final, "the next order is placed as soon as the last one is final"
        self.log.assert_replays(*self.orders)


# -- payments ---------------------------------------------------------------------------------------------------

PAYMENT_MOVES: Final = {
    (PaymentStatus.REQUESTED, PaymentStatus.AUTHORIZED), (PaymentStatus.REQUESTED, PaymentStatus.DECLINED),
    (PaymentStatus.REQUESTED, PaymentStatus.TIMED_OUT), (PaymentStatus.REQUESTED, PaymentStatus.VOIDED),
    (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED), (PaymentStatus.AUTHORIZED, PaymentStatus.VOIDED),
    (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED),
}
PAYMENT_REQUIRES: Final = {
    "authorize": {PaymentStatus.REQUESTED}, "decline": {PaymentStatus.REQUESTED}, "time_out": {PaymentStatus.REQUESTED},
    "capture": {PaymentStatus.AUTHORIZED}, "void": {PaymentStatus.REQUESTED, PaymentStatus.AUTHORIZED},
    "refund": {PaymentStatus.CAPTURED},
}
"""The statuses each command is accepted in; elsewhere it is an InvalidTransition."""


def payment_commands(payment: Payment) -> dict[str, Callable[[], None]]:
    return {"authorize": lambda: payment.authorize("auth_1"), "decline": lambda: payment.decline("card declined"),
            "time_out": payment.time_out, "capture": payment.capture, "void": payment.void, "refund": payment.refund}


class PaymentMachine(RuleBasedStateMachine):
    """Payments one after another, each asked to authorize, decline, time out, capture, void and refund in any
    order, repeatedly; the next payment is requested once no command would change the last one."""

    def __init__(self) -> None:
        super().__init__()
        self.log = EventLog()
        self.payments: list[Payment] = []
        self.statuses: dict[UUID, list[PaymentStatus]] = {}
        self.request()

    @property
    def payment(self) -> Payment:
        return self.payments[-1]

    def request(self) -> None:
        payment = Payment(order_id=uuid5(NAMESPACE, f"order-{len(self.payments)}"), amount=Decimal("7.00"),
                          token="tok_ok")
        self.payments.append(payment)
        self.statuses[payment.id] = [payment.status]
        self.log.collect(payment)

    @precondition(lambda self: not any(self.payment.status in accepted for accepted in PAYMENT_REQUIRES.values()))
    @rule()
    def request_the_next_payment(self) -> None:
        self.request()

    @rule(command=st.sampled_from(sorted(PAYMENT_REQUIRES)))
    def command(self, command: str) -> None:
        payment = self.payment
        run = payment_commands(payment)[command]
        if payment.status in PAYMENT_REQUIRES[command]:
            run()
        else:
            refused(run, InvalidTransition, payment)
        self.log.collect(payment)
        self.statuses[payment.id].append(payment.status)

    @invariant()
    def the_status_moves_only_along_allowed_transitions(self) -> None:
        for statuses in self.statuses.values():
            for before, now in itertools.pairwise(statuses):
                assert before == now or (before, now) in PAYMENT_MOVES, f"{before} -> {now}"

    @invariant()
    def each_command_is_accepted_exactly_where_allowed(self) -> None:
        """Every command tried on a copy of the payment as it stands: the transitions are exactly the table's."""
        for name, accepted in PAYMENT_REQUIRES.items():
            trial = deepcopy(self.payment)
            run = payment_commands(trial)[name]
            if trial.status in accepted:
                run()
                assert (self.payment.status, trial.status) in PAYMENT_MOVES
            else:
                with pytest.raises(InvalidTransition):
                    run()
                assert trial == self.payment, "a refusal changed state"
                assert trial.pending_events == [], "a refusal recorded events"

    @invariant()
    def captured_at_most_once_only_after_an_authorization_and_never_after_a_void(self) -> None:
        for payment in self.payments:
            names = self.log.names(payment)
            assert names.count("Captured") <= 1, "captured twice"
            if "Captured" in names:
                assert "Authorized" in names[:names.index("Captured")], "captured without an authorization"
            if "Voided" in names:
                assert "Captured" not in names[names.index("Voided"):], "captured after a void"

    @invariant()
    def events_rebuild_every_payment(self) -> None:
        self.log.assert_replays(*self.payments)


# -- shipping: couriers, shipments and dispatching --------------------------------------------------------------

OPERATOR: Final = Actor(Role.ADMIN, "ops")


class ShippingMachine(RuleBasedStateMachine):
    """The Shipping application in memory: couriers register and move, confirmed orders are shipped to the
    nearest free courier or wait, shipments are delivered, received (freeing the courier) or cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.shipping = Shipping()
        self.couriers: list[UUID] = []
        self.orders: list[UUID] = []
        self._loaded: tuple[int, tuple[list[Courier], list[Shipment], list[UUID]]] | None = None

    def position(self) -> int:
        return self.shipping.head_position()

    def shipment_of(self, order_id: UUID) -> Shipment:
        shipment = self.shipping.find_shipment_for(order_id)
        assert shipment is not None
        return shipment

    @precondition(lambda self: len(self.couriers) < 4)
    @rule(lat=LATITUDES, lng=LONGITUDES)
    def register_courier(self, lat: float, lng: float) -> None:
        before = self.position()
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            with pytest.raises(InvalidValue):
                self.shipping.register_courier("Courier", lat, lng)
            assert self.position() == before, "a refused registration was recorded"
            return
        courier, _ = self.shipping.register_courier(f"Courier {len(self.couriers)}", lat, lng)
        self.couriers.append(courier.id)

    @precondition(lambda self: len(self.orders) < 8)
    @rule(lat=st.floats(min_value=-6.35, max_value=-6.05), lng=st.floats(min_value=106.7, max_value=106.95))
    def ship_a_confirmed_order(self, lat: float, lng: float) -> None:
        order_id = uuid5(NAMESPACE, f"order-{len(self.orders)}")
        self.orders.append(order_id)
        self.shipping.save_all(*self.shipping.ship_order(order_id, "alice", DeliveryAddress("Jl. X", lat, lng)))

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def ship_the_same_order_again(self, data: st.DataObject) -> None:
        """A redelivered confirmation: the order keeps the shipment it has."""
        order_id = data.draw(st.sampled_from(self.orders))
        assert self.shipping.ship_order(order_id, "alice", HOME) == []

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        shipment = self.shipment_of(data.draw(st.sampled_from(self.orders)))
        before = self.position()
        if shipment.status is not ShipmentStatus.IN_TRANSIT:
            with pytest.raises(InvalidTransition):
                self.shipping.mark_delivered(OPERATOR, shipment.id)
            assert self.position() == before
            return
        others = [courier for courier in self.couriers if courier != shipment.courier_id]
        if others:
            # Another courier is told the shipment does not exist, and nothing is recorded.
            with pytest.raises(NotFound):
                self.shipping.mark_delivered(Actor(Role.COURIER, str(others[0])), shipment.id)
            assert self.position() == before
        self.shipping.mark_delivered(Actor(Role.COURIER, str(shipment.courier_id)), shipment.id)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def pick_up(self, data: st.DataObject) -> None:
        shipment = self.shipment_of(data.draw(st.sampled_from(self.orders)))
        before = self.position()
        if shipment.status is not ShipmentStatus.ASSIGNED:
            with pytest.raises(InvalidTransition):
                self.shipping.pick_up(OPERATOR, shipment.id)
            assert self.position() == before
            return
        self.shipping.pick_up(Actor(Role.COURIER, str(shipment.courier_id)), shipment.id)

    @precondition(lambda self: self.couriers)
    @rule(data=st.data())
    def change_shift(self, data: st.DataObject) -> None:
        """Ending a shift hands an unpicked shipment on; one picked up has to be delivered first."""
        courier = self.shipping.get_courier(data.draw(st.sampled_from(self.couriers)))
        before = self.position()
        carrying = courier.shipment_id is not None and \
            self.shipping.get_shipment(courier.shipment_id).status is not ShipmentStatus.ASSIGNED
        if courier.on_duty and carrying:
            with pytest.raises(InvalidTransition):
                self.shipping.set_shift(OPERATOR, courier.id, on_duty=False)
            assert self.position() == before
            return
        changed, _ = self.shipping.set_shift(OPERATOR, courier.id, on_duty=not courier.on_duty)
        assert changed.on_duty is not courier.on_duty
        assert changed.shipment_id is None or changed.on_duty

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def customer_confirms_receipt(self, data: st.DataObject) -> None:
        """What the saga does once a delivered order is received: the courier is free for the next one."""
        order_id = data.draw(st.sampled_from(self.orders))
        if self.shipment_of(order_id).status is ShipmentStatus.DELIVERED:
            self.shipping.save_all(*self.shipping.finish_shipment(order_id))

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def order_cancelled(self, data: st.DataObject) -> None:
        """The saga calls a cancelled order's shipment off, whatever it finds (an order cancelled as its courier was
        being assigned finds it in transit); one delivered or cancelled already refuses, and stays as it was."""
        order_id = data.draw(st.sampled_from(self.orders))
        shipment = self.shipment_of(order_id)
        if shipment.status in (ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED):
            refused(shipment.cancel, InvalidTransition, shipment)
        self.shipping.save_all(*self.shipping.cancel_shipment(order_id))

    @precondition(lambda self: self.couriers)
    @rule(data=st.data(), lat=LATITUDES, lng=LONGITUDES)
    def courier_moves(self, data: st.DataObject, lat: float, lng: float) -> None:
        courier_id = data.draw(st.sampled_from(self.couriers))
        before = self.position()
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            with pytest.raises(InvalidValue):
                self.shipping.record_checkpoints([Checkpoint(courier_id, lat, lng)])
            assert self.position() == before, "a refused position was recorded"
            return
        self.shipping.record_checkpoints([Checkpoint(courier_id, lat, lng)])
        courier = self.shipping.get_courier(courier_id)
        held = self.shipping.get_shipment(courier.shipment_id) if courier.shipment_id else None
        if held is None:
            assert (courier.position.lat, courier.position.lng) == (lat, lng)
        elif held.status is not ShipmentStatus.DELIVERED:
            assert held.position is not None
            assert (held.position.lat, held.position.lng) == (lat, lng)

    # The invariants, on the aggregates as the application loads them.

    def loaded(self) -> tuple[list[Courier], list[Shipment], list[UUID]]:
        """Every courier, every shipment and the index's waiting queue, loaded once per position of the log."""
        position = self.position()
        if self._loaded is None or self._loaded[0] != position:
            couriers = [self.shipping.get_courier(courier_id) for courier_id in self.couriers]
            shipments = [self.shipment_of(order_id) for order_id in self.orders]
            self._loaded = position, (couriers, shipments,
                                      self.shipping.dispatch_index.oldest_waiting_shipments(1_000_000))
        return self._loaded[1]

    @invariant()
    def a_courier_holds_at_most_one_shipment_and_it_is_its_own(self) -> None:
        couriers, shipments, _ = self.loaded()
        for courier in couriers:
            carried = [shipment for shipment in shipments if shipment.courier_id == courier.id
                       and shipment.status in (ShipmentStatus.ASSIGNED, ShipmentStatus.IN_TRANSIT)]
            assert len(carried) <= 1, f"courier {courier.name} carries {len(carried)} shipments"
            if courier.status is CourierStatus.AVAILABLE:
                assert courier.shipment_id is None
                assert carried == [], "a free courier still carries a shipment"
            else:
                assert courier.shipment_id is not None
                held = next(shipment for shipment in shipments if shipment.id == courier.shipment_id)
                assert held.courier_id == courier.id
                assert held.status in (ShipmentStatus.ASSIGNED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED)
            if not courier.on_duty:
                assert courier.shipment_id is None, "a courier off duty holds a shipment"
        holders = [courier.shipment_id for courier in couriers if courier.shipment_id is not None]
        assert len(holders) == len(set(holders)), "two couriers hold one shipment"

    @invariant()
    def a_shipment_waits_only_while_no_courier_is_free(self) -> None:
        couriers, shipments, queue = self.loaded()
        waiting = [shipment.id for shipment in shipments if shipment.status is ShipmentStatus.WAITING_FOR_COURIER]
        assert queue == waiting, "the queue is not the waiting shipments, oldest first"
        if waiting:
            assert not any(courier.is_available for courier in couriers), "a courier idles while one waits"
        for shipment in shipments:
            if shipment.status is ShipmentStatus.WAITING_FOR_COURIER:
                assert shipment.courier_id is None
            elif shipment.status is not ShipmentStatus.CANCELLED:
                assert shipment.courier_id is not None, f"a shipment {shipment.status} without a courier"

    @invariant()
    def events_rebuild_every_aggregate(self) -> None:
        couriers, shipments, _ = self.loaded()
        aggregates: Sequence[Aggregate] = [*couriers, *shipments]
        for aggregate in aggregates:
            replayed = project_aggregate(None, list(self.shipping.events.get(aggregate.id)))
            assert replayed == aggregate, f"{type(aggregate).__name__} rebuilt from its events differs"


# -- the runs ---------------------------------------------------------------------------------------------------


MACHINES: Final = (StockMachine, OrderMachine, PaymentMachine, ShippingMachine)


def machine_settings(machine: type[RuleBasedStateMachine]) -> settings:
    return settings(BOUNDED, max_examples=EXAMPLES[machine.__name__])


@pytest.mark.parametrize("machine", MACHINES, ids=lambda machine: machine.__name__)
def test_no_sequence_of_commands_breaks_an_invariant(machine: type[RuleBasedStateMachine]) -> None:
    run_state_machine_as_test(machine, settings=machine_settings(machine))
