"""`logistics verify`'s checks (`domain.invariants`, `adapters.store_checks`), on histories made by running the
domain's own commands (no database)."""

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID, uuid5

import pytest
from eventsourcing.domain import Aggregate
from rich.console import Console

from adapters.store_checks import DISPATCH_INDEX, DispatchRows, dispatch_index_agrees
from commands.dispatch_index import MemoryDispatchIndex, index_of
from domain.invariants import (
    CANCELLED_SETTLED,
    CONFIRMED_BACKED,
    NOTHING_STUCK,
    NOTHING_TWICE,
    RESERVED_IS_OPEN,
    STOCK_LEVELS,
    STREAMS_REPLAY,
    Check,
    check_invariants,
)
from domain.order import Order
from domain.payment import Payment
from domain.reservation import StockReservation
from domain.shipping import Courier, Dispatcher, OffDutyReason, Shipment
from domain.stock import Stock
from domain.store_history import Event
from domain.values import DeliveryAddress, OrderLine
from scripts.verify import report

DEADLINE = timedelta(seconds=90)
HOME = DeliveryAddress("Jl. Jaksa 5", -6.186, 106.83)


@dataclass
class World:
    """Aggregates of all four contexts; `events()` collects what each recorded, the way the store would hold it."""

    aggregates: list[Aggregate] = field(default_factory=list)
    recorded: list[Event] = field(default_factory=list)

    def add(self, *aggregates: Aggregate) -> None:
        self.aggregates.extend(each for each in aggregates if each not in self.aggregates)

    def events(self) -> list[Event]:
        for aggregate in self.aggregates:
            self.recorded.extend(aggregate.collect_events())
        return list(self.recorded)

    def product(self, sku: str = "KOPI", initial_stock: int = 10) -> Stock:
        stock = Stock.create(sku, f"Product {sku}", "4.50", initial_stock)
        self.add(stock)
        return stock

    def place(self, *stocks: Stock, quantity: int = 2, token: str = "tok_ok") -> Order:
        lines = [OrderLine(stock.id, quantity, stock.price) for stock in stocks]
        order = Order.place("alice", lines, token, HOME)
        self.add(order)
        return order

    def reserve(self, order: Order, *stocks: Stock) -> StockReservation:
        reservation = StockReservation.reserve(order.id, order.lines, {stock.id: stock for stock in stocks})
        self.add(reservation)
        return reservation

    def pay(self, order: Order, authorize: bool = True) -> Payment:
        payment = Payment(order_id=order.id, amount=order.total, token="tok_ok")
        if authorize:
            payment.authorize(f"auth_{order.id.hex[:8]}")
        self.add(payment)
        return payment

    def confirm(self, order: Order, *stocks: Stock) -> tuple[StockReservation, Payment]:
        """What the saga does for a placed order when stock and payment are both there."""
        reservation = self.reserve(order, *stocks)
        payment = self.pay(order)
        order.record_stock_reserved()
        order.record_payment_authorized()
        return reservation, payment

    def ship(self, order: Order, courier: Courier | None = None) -> Shipment:
        """A shipment for the order, assigned to this courier (on its way to pick it up), or else waiting."""
        shipment = Shipment(order_id=order.id, customer_id=order.customer_id, destination=order.delivery)
        if courier is not None:
            shipment.assign(courier)
            self.add(courier)
        self.add(shipment)
        return shipment

    def pick_up(self, order: Order, shipment: Shipment) -> None:
        """The courier has the goods, and the saga takes the order in transit."""
        assert shipment.courier_id is not None
        shipment.pick_up(shipment.position or order.delivery.point)
        order.mark_in_transit(shipment.id, shipment.courier_id)


def long_ago(world: World, by: timedelta = DEADLINE + timedelta(seconds=1)) -> None:
    """Everything recorded so far happened `by` earlier."""
    world.events()
    for event in world.recorded:
        object.__setattr__(event, "timestamp", vars(event)["timestamp"] - by)


def rows_of(index: MemoryDispatchIndex) -> DispatchRows:
    return DispatchRows(list(index.couriers.values()), list(index.waiting.values()))


def run(world: World, at: timedelta = timedelta(seconds=1),
        index: Callable[[MemoryDispatchIndex], object] | None = None) -> dict[str, Check]:
    """Check the world's history as seen `at` after its last event, with the dispatch index it implies
    (changed by `index` first, when given)."""
    events = world.events()
    now = max(vars(event)["timestamp"] for event in events) + at
    rows = index_of(events)
    if index is not None:
        index(rows)
    checks = [*check_invariants(events, now=now, stuck_after=DEADLINE), dispatch_index_agrees(events, rows_of(rows))]
    return {check.name: check for check in checks}


def breached(checks: dict[str, Check]) -> set[str]:
    return {name for name, check in checks.items() if not check.holds}


def mentions(check: Check, *ids: UUID) -> bool:
    return any(all(str(each) in line for each in ids) for line in check.details)


def a_full_journey(world: World, stock: Stock) -> Order:
    """Placed, confirmed, shipped, delivered and received, with every compensation the saga makes."""
    order = world.place(stock)
    reservation, payment = world.confirm(order, stock)
    courier = Courier.register("Budi", -6.19, 106.82)
    shipment = world.ship(order, courier)
    world.pick_up(order, shipment)
    reservation.commit({stock.id: stock})
    payment.capture()
    shipment.deliver()
    order.mark_delivered()
    order.confirm_receipt()
    courier.release()
    return order


def a_cancelled_order(world: World, stock: Stock) -> Order:
    order = world.place(stock)
    reservation, payment = world.confirm(order, stock)
    order.cancel(note="changed my mind")
    reservation.release({stock.id: stock})
    payment.void()
    return order


class TestAHealthyHistory:
    def test_every_invariant_holds(self) -> None:
        world = World()
        coffee, tea = world.product("KOPI", 10), world.product("TEH", 1)
        coffee.restock(5, "delivery")
        a_full_journey(world, coffee)
        a_cancelled_order(world, coffee)
        out_of_stock = world.place(tea, quantity=2)
        world.reserve(out_of_stock, tea)
        out_of_stock.record_stock_rejected()
        world.pay(out_of_stock).void()
        declined = world.place(coffee, token="tok_decline")
        reservation = world.reserve(declined, coffee)
        world.pay(declined, authorize=False).decline("card declined")
        declined.record_payment_declined()
        reservation.release({coffee.id: coffee})

        checks = run(world, at=timedelta(hours=1))

        assert breached(checks) == set()
        assert all(check.notes == [] for check in checks.values())
        assert checks[STOCK_LEVELS].examined == 2
        assert checks[CONFIRMED_BACKED].examined == 1
        assert checks[CANCELLED_SETTLED].examined == 3

    def test_an_empty_store_holds(self) -> None:
        checks = [*check_invariants([], now=datetime.now().astimezone(), stuck_after=DEADLINE),
                  dispatch_index_agrees([], None)]

        assert all(check.holds and check.examined == 0 for check in checks)

    def test_a_young_pending_order_is_not_stuck(self) -> None:
        world = World()
        world.place(world.product())

        assert breached(run(world, at=DEADLINE - timedelta(seconds=1))) == set()


class TestStockLevels:
    def test_reserving_above_on_hand_and_going_negative_are_breaches(self) -> None:
        world = World()
        stock = world.product(initial_stock=1)
        order = world.place(stock, quantity=5)
        # Bypassing the aggregate's guards, as a bug in the write side would.
        stock._reserved(order.id, 5)
        stock._committed(order.id, 5)

        checks = run(world)

        assert STOCK_LEVELS in breached(checks)
        assert checks[STOCK_LEVELS].details == [f"product {stock.id}: at v2 on hand 1, reserved 5"]


class TestReservedIsOpen:
    def test_a_stock_reservation_without_a_held_order_reservation_is_a_breach(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        stock.reserve(order.id, 2)

        checks = run(world)

        assert breached(checks) == {RESERVED_IS_OPEN}
        assert mentions(checks[RESERVED_IS_OPEN], stock.id, order.id)

    def test_a_held_reservation_the_stock_no_longer_holds_is_a_breach(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.reserve(order, stock)
        stock.release(order.id)

        checks = run(world)

        assert breached(checks) == {RESERVED_IS_OPEN}
        assert mentions(checks[RESERVED_IS_OPEN], order.id, stock.id)


class TestConfirmedOrders:
    def test_confirmed_without_an_authorized_payment_is_a_breach(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.reserve(order, stock)
        order.record_stock_reserved()
        order.record_payment_authorized()  # the orders context believed a payment that never was

        checks = run(world)

        assert CONFIRMED_BACKED in breached(checks)
        assert checks[CONFIRMED_BACKED].details == [f"order {order.id} (CONFIRMED): 0 Payment.Authorized"]

    def test_confirmed_without_any_reservation_is_a_breach(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.pay(order)
        order.record_stock_reserved()
        order.record_payment_authorized()

        details = run(world)[CONFIRMED_BACKED].details

        assert len(details) == 2
        assert f"0 Stock.Reserved for product {stock.id}" in details[0]
        assert "no reservation held" in details[1]

    def test_an_order_in_transit_whose_payment_was_voided_is_a_breach(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        _, payment = world.confirm(order, stock)
        shipment = world.ship(order, Courier.register("Budi", -6.19, 106.82))
        world.pick_up(order, shipment)
        payment.void()

        checks = run(world)

        assert breached(checks) == {CONFIRMED_BACKED}
        assert mentions(checks[CONFIRMED_BACKED], order.id, payment.id)


class TestCancelledOrders:
    def cancelled_but_still_held(self) -> tuple[World, Order]:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.confirm(order, stock)
        order.cancel()  # and inventory and payments never compensated
        return world, order

    def test_a_reservation_and_an_authorization_kept_past_the_deadline_are_breaches(self) -> None:
        world, order = self.cancelled_but_still_held()

        checks = run(world, at=DEADLINE + timedelta(seconds=1))

        assert breached(checks) == {CANCELLED_SETTLED}
        [line] = checks[CANCELLED_SETTLED].details
        assert str(order.id) in line
        assert "is still HELD" in line
        assert "still reserves 2" in line
        assert "is AUTHORIZED" in line

    def test_within_the_deadline_it_is_a_compensation_on_its_way(self) -> None:
        world, order = self.cancelled_but_still_held()

        checks = run(world, at=timedelta(seconds=5))

        assert breached(checks) == set()
        [note] = checks[CANCELLED_SETTLED].notes
        assert str(order.id) in note


class TestStuckOrders:
    def test_a_pending_order_older_than_the_deadline_is_stuck(self) -> None:
        world = World()
        order = world.place(world.product())

        checks = run(world, at=DEADLINE + timedelta(seconds=1))

        assert breached(checks) == {NOTHING_STUCK}
        assert mentions(checks[NOTHING_STUCK], order.id)
        assert "PENDING" in checks[NOTHING_STUCK].details[0]

    def test_a_confirmed_order_without_a_shipment_is_stuck(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.confirm(order, stock)

        checks = run(world, at=DEADLINE + timedelta(seconds=1))

        assert breached(checks) == {NOTHING_STUCK}
        assert "no shipment" in checks[NOTHING_STUCK].details[0]

    def test_a_picked_up_shipment_whose_order_never_went_in_transit_is_stuck(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.confirm(order, stock)
        shipment = world.ship(order, Courier.register("Budi", -6.19, 106.82))
        shipment.pick_up(order.delivery.point)  # and the saga never heard of it

        checks = run(world, at=DEADLINE + timedelta(seconds=1))

        assert breached(checks) == {NOTHING_STUCK}
        assert mentions(checks[NOTHING_STUCK], order.id, shipment.id)
        assert "was picked up" in checks[NOTHING_STUCK].details[0]

    def test_the_order_going_in_transit_is_measured_from_the_pick_up_not_the_assignment(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.confirm(order, stock)
        shipment = world.ship(order, Courier.register("Budi", -6.19, 106.82))
        long_ago(world)
        shipment.pick_up(order.delivery.point)  # a moment ago: the saga's step is still on its way

        checks = run(world)

        assert breached(checks) == set()

    def test_a_courier_on_its_way_to_pick_up_is_a_note(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.confirm(order, stock)
        courier = Courier.register("Budi", -6.19, 106.82)
        shipment = world.ship(order, courier)

        checks = run(world, at=DEADLINE - timedelta(seconds=1))

        assert breached(checks) == set()
        [note] = checks[NOTHING_STUCK].notes
        assert str(shipment.id) in note
        assert str(courier.id) in note
        assert "on its way to pick it up" in note

    def test_a_long_way_to_a_pick_up_is_a_note_not_a_breach(self) -> None:
        """A silent courier loses the shipment to the worker's courier watch; one still driving is a person's
        business, however long the way."""
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.confirm(order, stock)
        courier = Courier.register("Budi", -6.19, 106.82)
        shipment = world.ship(order, courier)

        checks = run(world, at=DEADLINE + timedelta(hours=1))

        assert breached(checks) == set()
        [note] = checks[NOTHING_STUCK].notes
        assert str(shipment.id) in note
        assert "on its way to pick it up" in note

    def test_a_reassigned_shipment_is_measured_from_its_latest_assignment(self) -> None:
        """The first courier's shift ended long ago; the second has just been given the shipment."""
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.confirm(order, stock)
        first, second = Courier.register("First", -6.19, 106.82), Courier.register("Second", -6.2, 106.8)
        world.add(second)
        shipment = world.ship(order, first)
        shipment.unassign(first, OffDutyReason.SHIFT_ENDED)
        first.go_off_duty(OffDutyReason.SHIFT_ENDED)
        long_ago(world)
        shipment.assign(second)

        checks = run(world)

        assert breached(checks) == set()
        [note] = checks[NOTHING_STUCK].notes
        assert str(second.id) in note
        assert "on its way to pick it up" in note

    def test_a_shipment_waiting_while_a_courier_has_been_free_all_along_is_stuck(self) -> None:
        """A lost wake-up that nothing made up for: the courier idles beside the waiting shipment."""
        world = World()
        stock = world.product()
        idle = Courier.register("Idle", -6.19, 106.82)
        world.add(idle)
        order = world.place(stock)
        world.confirm(order, stock)
        shipment = world.ship(order)

        checks = run(world, at=DEADLINE + timedelta(seconds=1))

        assert breached(checks) == {NOTHING_STUCK}
        assert mentions(checks[NOTHING_STUCK], order.id, shipment.id, idle.id)
        assert "has been free for" in checks[NOTHING_STUCK].details[0]

    def test_a_shipment_waiting_beside_an_off_duty_courier_is_not_stuck(self) -> None:
        """An off-duty courier is not free: the shipment waits for a person, not for a lost wake-up."""
        world = World()
        stock = world.product()
        resting = Courier.register("Resting", -6.19, 106.82)
        resting.go_off_duty(OffDutyReason.SHIFT_ENDED)
        world.add(resting)
        order = world.place(stock)
        world.confirm(order, stock)
        world.ship(order)

        checks = run(world, at=DEADLINE + timedelta(seconds=1))

        assert breached(checks) == set()
        assert any(str(order.id) in note and "waits for a free courier" in note
                   for note in checks[NOTHING_STUCK].notes)

    def test_a_courier_back_on_duty_a_moment_ago_is_free_since_then(self) -> None:
        world = World()
        stock = world.product()
        back = Courier.register("Back", -6.19, 106.82)
        back.go_off_duty(OffDutyReason.SHIFT_ENDED)
        world.add(back)
        order = world.place(stock)
        world.confirm(order, stock)
        world.ship(order)
        long_ago(world)
        back.go_on_duty()  # and the shipment is handed to it in the same breath, or by the next sweep

        assert breached(run(world)) == set()
        assert NOTHING_STUCK in breached(run(world, at=DEADLINE + timedelta(seconds=1)))

    def test_a_shipment_waiting_beside_a_courier_freed_a_moment_ago_is_not_stuck(self) -> None:
        world = World()
        stock = world.product()
        busy = Courier.register("Busy", -6.19, 106.82)
        busy.take(uuid5(UUID(int=0), "another shipment"))
        world.add(busy)
        order = world.place(stock)
        world.confirm(order, stock)
        world.ship(order)
        long_ago(world)
        busy.release()

        checks = run(world)

        assert breached(checks) == set()
        assert any(str(order.id) in note and "waits for a free courier" in note
                   for note in checks[NOTHING_STUCK].notes)

    def test_orders_waiting_on_a_courier_or_a_customer_are_notes_not_breaches(self) -> None:
        world = World()
        stock = world.product()
        queued = world.place(stock)
        world.confirm(queued, stock)
        world.ship(queued)  # no courier free: the shipment waits for one
        delivered = world.place(stock)
        world.confirm(delivered, stock)
        shipment = world.ship(delivered, Courier.register("Budi", -6.19, 106.82))
        world.pick_up(delivered, shipment)
        shipment.deliver()
        delivered.mark_delivered()

        checks = run(world, at=DEADLINE + timedelta(seconds=1))

        assert breached(checks) == set()
        notes = checks[NOTHING_STUCK].notes
        assert len(notes) == 2
        assert any(str(queued.id) in note and "waits for a free courier" in note for note in notes)
        assert any(str(delivered.id) in note and "confirm receipt" in note for note in notes)


class TestNothingTwice:
    def test_a_second_stock_reservation_for_one_order_is_a_breach(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        stock.reserve(order.id, 2)
        stock.release(order.id)
        stock.reserve(order.id, 2)

        checks = run(world)

        assert NOTHING_TWICE in breached(checks)
        assert checks[NOTHING_TWICE].details == [f"Stock.Reserved of product {stock.id} for order {order.id}: 2 times"]

    def test_an_order_confirmed_twice_is_a_breach(self) -> None:
        world = World()
        stock = world.product()
        order = world.place(stock)
        world.confirm(order, stock)
        order._confirmed(order.customer_id, order.delivery, order.total)  # past the guard, as a bug would

        checks = run(world)

        assert NOTHING_TWICE in breached(checks)
        assert mentions(checks[NOTHING_TWICE], order.id)


class TestStreams:
    def test_a_stream_with_a_gap_does_not_replay(self) -> None:
        world = World()
        stock = world.product()
        stock.restock(1, "delivery")
        stock.restock(1, "delivery")
        events = world.events()
        gapped = [event for event in events if event.originator_version != 2]

        checks = check_invariants(gapped, now=vars(events[-1])["timestamp"], stuck_after=DEADLINE,
                                  undecodable=["Inventory #9 domain.stock:Stock.Gone: TopicError"])

        assert not checks[0].holds
        assert checks[0].name == STREAMS_REPLAY
        assert len(checks[0].details) == 2
        assert "OriginatorVersionError" in checks[0].details[1]


def render(checks: Sequence[Check]) -> str:
    output = io.StringIO()
    report(checks, Console(file=output, width=200, highlight=False), events=42)
    return output.getvalue()


class TestReport:
    @pytest.mark.parametrize("extra", [0, 5])
    def test_shows_every_check_and_at_most_ten_offenders(self, extra: int) -> None:
        offenders = [f"order {index}" for index in range(10 + extra)]
        checks = [Check("fine", True, [], examined=3), Check("broken", False, offenders, examined=20)]

        text = render(checks)

        assert "42 events" in text
        assert "✓" in text
        assert f"✗ broken: {10 + extra} breaches" in text
        assert "order 9" in text
        assert "order 10" not in text
        assert ("… and 5 more" in text) is (extra == 5)
        assert "1 of 2 invariants breached" in text

    def test_says_so_when_all_hold(self) -> None:
        text = render([Check("fine", True, [], notes=["order [1] waits"])])

        assert "all 1 invariants hold" in text
        assert "order [1] waits" in text



class TestDispatchIndex:
    def history(self) -> tuple[World, Courier, Courier, Shipment]:
        """A courier carrying a shipment (and moving), another busy elsewhere, and a shipment waiting."""
        world = World()
        stock = world.product()
        carrier, other = Courier.register("Carrier", -6.19, 106.82), Courier.register("Other", -6.2, 106.8)
        world.add(other)
        carried = world.place(stock)
        world.confirm(carried, stock)
        world.pick_up(carried, world.ship(carried, carrier))
        carrier.move_to(-6.18, 106.83)
        waiting = world.place(stock)
        world.confirm(waiting, stock)
        other.take(uuid5(UUID(int=0), "elsewhere"))
        return world, carrier, other, world.ship(waiting)

    def test_rows_that_say_what_the_log_says_hold(self) -> None:
        world, *_ = self.history()

        checks = run(world)

        assert checks[DISPATCH_INDEX].holds
        assert checks[DISPATCH_INDEX].examined == 3

    def test_a_waiting_shipment_missing_from_the_index_is_a_breach(self) -> None:
        world, _, _, waiting = self.history()

        checks = run(world, index=lambda rows: rows.waiting.pop(waiting.id))

        assert breached(checks) == {DISPATCH_INDEX}
        assert checks[DISPATCH_INDEX].details == [
            f"shipment {waiting.id} waits for a courier but is not in the index's queue"]

    def test_a_courier_the_index_has_free_or_elsewhere_is_a_breach(self) -> None:
        world, carrier, other, _ = self.history()

        def wrong(rows: MemoryDispatchIndex) -> None:
            rows.couriers[other.id] = replace(rows.couriers[other.id], available=True)
            rows.couriers[carrier.id] = replace(rows.couriers[carrier.id], lat=-6.19)

        checks = run(world, index=wrong)

        assert breached(checks) == {DISPATCH_INDEX}
        assert len(checks[DISPATCH_INDEX].details) == 2
        assert mentions(checks[DISPATCH_INDEX], other.id)
        assert mentions(checks[DISPATCH_INDEX], carrier.id)

    def test_without_the_rows_it_is_not_judged(self) -> None:
        world, *_ = self.history()
        events = world.events()

        check = dispatch_index_agrees(events, None)

        assert check.name == DISPATCH_INDEX
        assert check.holds
        assert check.examined == 0


def test_the_retired_dispatchers_streams_replay_and_change_nothing() -> None:
    """Stores written before the dispatch index hold Dispatcher streams: they replay, and judge nothing."""
    world = World()
    stock = world.product()
    courier = Courier.register("Budi", -6.19, 106.82)
    order = world.place(stock)
    world.confirm(order, stock)
    shipment = world.ship(order)
    dispatcher = Dispatcher()
    dispatcher.enroll(courier.id)
    dispatcher.queue(shipment.id)
    dispatcher.dequeue(shipment.id)
    world.add(dispatcher)
    shipment.assign(courier)
    world.add(courier)
    world.pick_up(order, shipment)

    checks = run(world)

    assert breached(checks) == set()
    assert checks[STREAMS_REPLAY].examined == 7  # stock, order, reservation, payment, courier, shipment, dispatcher


def test_a_parked_or_held_event_is_a_breach_naming_how_to_see_it() -> None:
    from adapters.store_checks import nothing_parked
    from queries.parked import ParkedEvent, ParkedStatus

    at = datetime(2026, 12, 1, 12, 0)
    parked = ParkedEvent(id=7, follower="readmodels-from-orders", upstream="Orders", partition=1, notification_id=42,
                         originator_id=UUID(int=1), originator_version=3, topic="domain.order:Order.Cancelled",
                         status=ParkedStatus.PARKED, error="ValueError: no", traceback="", attempts=3, parked_at=at,
                         updated_at=at, resolved_by=None, reason=None)
    assert nothing_parked([]).holds
    check = nothing_parked([parked])
    assert not check.holds
    assert check.details == ["readmodels-from-orders: Order.Cancelled of 00000000-0000-0000-0000-000000000001 at "
                             "position 42 is parked (`logistics parked show 7`)"]
