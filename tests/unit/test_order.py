"""The Order aggregate: placing, the saga's outcomes, the customer's cancel, and the way to the customer."""

import itertools
from collections.abc import Callable, Sequence
from contextlib import suppress
from copy import deepcopy
from decimal import Decimal
from uuid import UUID, uuid4, uuid5

import pytest

from domain.base import message_context
from domain.errors import InvalidTransition, InvalidValue
from domain.order import MAX_ORDER_LINES, CancelReason, Order, OrderCannotBeCancelled, OrderStatus
from domain.values import DeliveryAddress, OrderLine
from tests.unit.scenario import Command, Event, facts, given, history, ids, names, then_rejected, when

COFFEE = uuid5(UUID(int=0), "coffee")
TEA = uuid5(UUID(int=0), "tea")
SHIPMENT_ID = uuid5(UUID(int=0), "shipment")
COURIER_ID = uuid5(UUID(int=0), "courier")
MONAS = DeliveryAddress("Jl. Medan Merdeka, Jakarta", -6.1754, 106.8272)


def two_lines() -> list[OrderLine]:
    return [OrderLine(COFFEE, 2, Decimal("10.50")), OrderLine(TEA, 1, Decimal("3.25"))]


def place_order(
    lines: Sequence[OrderLine] | None = None,
    payment_token: str = "tok_visa",
    delivery: DeliveryAddress = MONAS,
    customer_id: str = "customer-1",
    order_id: UUID | None = None,
) -> Order:
    lines = two_lines() if lines is None else lines
    return Order.place(customer_id, lines, payment_token, delivery, order_id)


def go_in_transit(order: Order) -> None:
    order.mark_in_transit(SHIPMENT_ID, COURIER_ID)


# Histories: the events of an order brought to each state.

def pending() -> list[Event]:
    return history(place_order())


def stock_reserved() -> list[Event]:
    return history(place_order(), Order.record_stock_reserved)


def confirmed_then(*commands: Command[Order]) -> list[Event]:
    return history(place_order(), Order.record_stock_reserved, Order.record_payment_authorized, *commands)


def confirmed() -> list[Event]:
    return confirmed_then()


def in_transit() -> list[Event]:
    return confirmed_then(go_in_transit)


def delivered() -> list[Event]:
    return confirmed_then(go_in_transit, Order.mark_delivered)


def received() -> list[Event]:
    return confirmed_then(go_in_transit, Order.mark_delivered, Order.confirm_receipt)


def out_of_stock() -> list[Event]:
    return history(place_order(), Order.record_stock_rejected)


def payment_declined() -> list[Event]:
    return history(place_order(), Order.record_stock_reserved, Order.record_payment_declined)


def payment_timed_out() -> list[Event]:
    return history(place_order(), Order.record_stock_reserved, Order.record_payment_timed_out)


def cancelled_by_customer() -> list[Event]:
    return history(place_order(), Order.cancel)


History = Callable[[], list[Event]]
CANCELLED: list[History] = [out_of_stock, payment_declined, payment_timed_out, cancelled_by_customer]
STATES: dict[OrderStatus, History] = {
    OrderStatus.PENDING: pending,
    OrderStatus.CONFIRMED: confirmed,
    OrderStatus.IN_TRANSIT: in_transit,
    OrderStatus.DELIVERED: delivered,
    OrderStatus.RECEIVED: received,
    OrderStatus.CANCELLED: cancelled_by_customer,
}


def states_except(*allowed: OrderStatus) -> list[OrderStatus]:
    return [status for status in STATES if status not in allowed]


def order_in(status: OrderStatus) -> Order:
    order = given(*STATES[status](), kind=Order)
    assert order.status is status
    return order


SAGA_OUTCOMES: dict[str, Command[Order]] = {
    "stock reserved": Order.record_stock_reserved,
    "stock rejected": Order.record_stock_rejected,
    "payment authorized": Order.record_payment_authorized,
    "payment declined": Order.record_payment_declined,
    "payment timed out": Order.record_payment_timed_out,
}
EVERY_COMMAND: dict[str, Command[Order]] = {
    **SAGA_OUTCOMES,
    "cancel": Order.cancel,
    "in transit": go_in_transit,
    "delivered": Order.mark_delivered,
    "received": Order.confirm_receipt,
}


class TestPlacing:
    def test_records_placed_with_the_lines_and_their_total(self) -> None:
        order_id = uuid4()

        events = history(place_order(order_id=order_id))

        assert facts(events) == [("Placed", {
            "customer_id": "customer-1",
            "lines": two_lines(),
            "total": Decimal("24.25"),
            "payment_token": "tok_visa",
            "delivery": MONAS,
        })]
        order = given(*events, kind=Order)
        assert order.id == order_id
        assert order.status is OrderStatus.PENDING
        assert order.total == Decimal("24.25")
        assert (order.stock_reserved, order.payment_authorized) == (False, False)
        assert (order.cancel_reason, order.shipment_id, order.courier_id) == (None, None, None)

    @pytest.mark.parametrize(("lines", "total"), [
        ([OrderLine(COFFEE, 1, Decimal("0.01"))], Decimal("0.01")),
        ([OrderLine(COFFEE, 3, Decimal("19.99")), OrderLine(TEA, 7, Decimal("2.50"))], Decimal("77.47")),
        ([OrderLine(uuid4(), 1, Decimal("1.10")) for _ in range(MAX_ORDER_LINES)], Decimal("55.00")),
    ])
    def test_total_is_the_sum_of_the_line_subtotals(self, lines: list[OrderLine], total: Decimal) -> None:
        order = place_order(lines=lines)

        assert order.total == total == sum((line.unit_price * line.quantity for line in lines), Decimal(0))

    def test_delivery_address_is_trimmed_and_coordinates_stored_as_floats(self) -> None:
        [placed] = history(place_order(delivery=DeliveryAddress("  Jl. Thamrin 1  ", -6, 106)))

        delivery = facts([placed])[0][1]["delivery"]
        assert delivery == DeliveryAddress("Jl. Thamrin 1", -6.0, 106.0)
        assert isinstance(delivery.lat, float)
        assert isinstance(delivery.lng, float)

    @pytest.mark.parametrize(("lat", "lng"), [(90, 180), (-90, -180), (0, 0)])
    def test_coordinates_on_the_boundary_are_accepted(self, lat: float, lng: float) -> None:
        order = place_order(delivery=DeliveryAddress("Somewhere", lat, lng))

        assert (order.delivery.lat, order.delivery.lng) == (lat, lng)

    @pytest.mark.parametrize(("lines", "field"), [
        ([], "items"),
        ([OrderLine(uuid4(), 1, Decimal(1)) for _ in range(MAX_ORDER_LINES + 1)], "items"),
        ([OrderLine(COFFEE, 1, Decimal(1)), OrderLine(COFFEE, 2, Decimal(1))], "items[1].product_id"),
        ([OrderLine(COFFEE, 0, Decimal(1))], "items[0].quantity"),
        ([OrderLine(COFFEE, 1, Decimal(1)), OrderLine(TEA, -1, Decimal(1))], "items[1].quantity"),
        ([OrderLine(COFFEE, 1_000_001, Decimal(1))], "items[0].quantity"),
    ], ids=["empty", "too many", "duplicate product", "zero quantity", "negative quantity", "huge quantity"])
    def test_invalid_items_are_refused(self, lines: list[OrderLine], field: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            place_order(lines=lines)

        assert refused.value.field == field

    @pytest.mark.parametrize("token", ["", "   ", "\t\n"])
    def test_a_blank_payment_token_is_refused(self, token: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            place_order(payment_token=token)

        assert refused.value.field == "payment.token"

    def test_a_blank_customer_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            place_order(customer_id=" ")

        assert refused.value.field == "customer_id"

    @pytest.mark.parametrize(("lat", "lng", "field"), [
        (90.0001, 106.0, "delivery.lat"),
        (-91.0, 106.0, "delivery.lat"),
        (float("nan"), 106.0, "delivery.lat"),
        (-6.0, 180.5, "delivery.lng"),
        (-6.0, -181.0, "delivery.lng"),
        (-6.0, float("inf"), "delivery.lng"),
    ])
    def test_coordinates_out_of_range_are_refused(self, lat: float, lng: float, field: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            place_order(delivery=DeliveryAddress("Somewhere", lat, lng))

        assert refused.value.field == field

    @pytest.mark.parametrize("address", ["", "   ", "x" * 501])
    def test_a_blank_or_overlong_address_is_refused(self, address: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            place_order(delivery=DeliveryAddress(address, -6.0, 106.0))

        assert refused.value.field == "delivery.address"


class TestConfirmation:
    def test_stock_then_payment_confirms(self) -> None:
        order = given(*stock_reserved(), kind=Order)

        events = when(order, Order.record_payment_authorized)

        assert names(events) == ["PaymentAuthorized", "Confirmed"]
        assert order.status is OrderStatus.CONFIRMED

    def test_the_confirmation_carries_what_shipping_needs(self) -> None:
        order = given(*stock_reserved(), kind=Order)

        events = when(order, Order.record_payment_authorized)

        assert facts(events)[-1] == ("Confirmed", {
            "customer_id": "customer-1", "delivery": MONAS, "total": Decimal("24.25"),
        })

    def test_payment_then_stock_confirms(self) -> None:
        order = given(*history(place_order(), Order.record_payment_authorized), kind=Order)

        events = when(order, Order.record_stock_reserved)

        assert names(events) == ["StockReserved", "Confirmed"]
        assert order.status is OrderStatus.CONFIRMED

    @pytest.mark.parametrize(("outcome", "recorded"), [
        (Order.record_stock_reserved, "StockReserved"),
        (Order.record_payment_authorized, "PaymentAuthorized"),
    ])
    def test_one_outcome_alone_does_not_confirm(self, outcome: Command[Order], recorded: str) -> None:
        order = given(*pending(), kind=Order)

        assert names(when(order, outcome)) == [recorded]
        assert order.status is OrderStatus.PENDING

    @pytest.mark.parametrize("outcome", [Order.record_stock_reserved, Order.record_payment_authorized])
    def test_a_repeated_outcome_while_pending_records_nothing(self, outcome: Command[Order]) -> None:
        order = given(*history(place_order(), outcome), kind=Order)

        assert when(order, outcome) == []
        assert order.status is OrderStatus.PENDING

    @pytest.mark.parametrize("outcomes", sorted(set(itertools.permutations(["stock", "payment"] * 2))))
    def test_confirmed_exactly_once_in_any_order_and_repetition(self, outcomes: tuple[str, ...]) -> None:
        commands = {"stock": Order.record_stock_reserved, "payment": Order.record_payment_authorized}
        order = given(*pending(), kind=Order)

        events = [event for outcome in outcomes for event in when(order, commands[outcome])]

        assert names(events).count("Confirmed") == 1
        assert names(events).count("StockReserved") == 1
        assert names(events).count("PaymentAuthorized") == 1
        assert order.status is OrderStatus.CONFIRMED

    @pytest.mark.parametrize("outcome", SAGA_OUTCOMES.values(), ids=SAGA_OUTCOMES.keys())
    def test_outcomes_after_confirmation_record_nothing(self, outcome: Command[Order]) -> None:
        order = given(*confirmed(), kind=Order)

        assert when(order, outcome) == []
        assert order.status is OrderStatus.CONFIRMED


class TestSagaCancellation:
    def test_stock_rejected_cancels_out_of_stock(self) -> None:
        order = given(*pending(), kind=Order)

        events = when(order, Order.record_stock_rejected)

        assert facts(events) == [
            ("StockRejected", {}),
            ("Cancelled", {"reason": "OUT_OF_STOCK", "note": None}),
        ]
        assert order.status is OrderStatus.CANCELLED
        assert order.cancel_reason is CancelReason.OUT_OF_STOCK

    @pytest.mark.parametrize("before", [pending, stock_reserved])
    def test_payment_declined_cancels_payment_declined(self, before: History) -> None:
        order = given(*before(), kind=Order)

        events = when(order, Order.record_payment_declined)

        assert facts(events) == [
            ("PaymentDeclined", {}),
            ("Cancelled", {"reason": "PAYMENT_DECLINED", "note": None}),
        ]
        assert order.cancel_reason is CancelReason.PAYMENT_DECLINED

    def test_payment_timeout_cancels_payment_timeout(self) -> None:
        order = given(*stock_reserved(), kind=Order)

        events = when(order, Order.record_payment_timed_out)

        assert facts(events) == [("Cancelled", {"reason": "PAYMENT_TIMEOUT", "note": None})]
        assert order.status is OrderStatus.CANCELLED
        assert order.cancel_reason is CancelReason.PAYMENT_TIMEOUT

    def test_a_timeout_after_the_payment_was_authorized_records_nothing(self) -> None:
        order = given(*history(place_order(), Order.record_payment_authorized), kind=Order)

        assert when(order, Order.record_payment_timed_out) == []
        assert order.status is OrderStatus.PENDING

    @pytest.mark.parametrize("cancelled", CANCELLED)
    @pytest.mark.parametrize("outcome", SAGA_OUTCOMES.values(), ids=SAGA_OUTCOMES.keys())
    def test_outcomes_after_cancellation_record_nothing(
        self, cancelled: History, outcome: Command[Order],
    ) -> None:
        order = given(*cancelled(), kind=Order)
        reason = order.cancel_reason

        assert when(order, outcome) == []
        assert order.status is OrderStatus.CANCELLED
        assert order.cancel_reason is reason


class TestCustomerCancel:
    @pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.CONFIRMED])
    def test_a_pending_or_confirmed_order_can_be_cancelled(self, status: OrderStatus) -> None:
        order = order_in(status)

        events = when(order, Order.cancel)

        assert facts(events) == [("Cancelled", {"reason": "CUSTOMER_CANCELLED", "note": None})]
        assert order.status is OrderStatus.CANCELLED
        assert order.cancel_reason is CancelReason.CUSTOMER_CANCELLED

    @pytest.mark.parametrize(("note", "recorded"), [
        ("  changed my mind  ", "changed my mind"),
        ("   ", None),
        ("", None),
        ("x" * 500, "x" * 500),
    ])
    def test_the_note_is_trimmed(self, note: str, recorded: str | None) -> None:
        order = order_in(OrderStatus.PENDING)

        events = when(order, lambda o: o.cancel(note=note))

        assert facts(events) == [("Cancelled", {"reason": "CUSTOMER_CANCELLED", "note": recorded})]
        assert order.cancel_note == recorded

    @pytest.mark.parametrize("note", ["x" * 501, "changed \x00 my mind"])
    def test_an_overlong_note_or_one_with_control_characters_is_refused(self, note: str) -> None:
        order = order_in(OrderStatus.PENDING)

        with pytest.raises(InvalidValue) as refused:
            order.cancel(note=note)

        assert refused.value.field == "reason"
        assert order.status is OrderStatus.PENDING

    @pytest.mark.parametrize("status", states_except(OrderStatus.PENDING, OrderStatus.CONFIRMED))
    def test_refused_once_the_order_is_on_its_way_or_over(self, status: OrderStatus) -> None:
        order = order_in(status)

        refused = then_rejected(order, Order.cancel, OrderCannotBeCancelled)

        assert status in str(refused.value)

    @pytest.mark.parametrize("cancelled", CANCELLED)
    def test_a_cancelled_order_cannot_be_cancelled_again(self, cancelled: History) -> None:
        then_rejected(given(*cancelled(), kind=Order), Order.cancel, OrderCannotBeCancelled)


class TestOnTheWay:
    def test_a_confirmed_order_goes_in_transit_with_its_shipment_and_courier(self) -> None:
        order = order_in(OrderStatus.CONFIRMED)

        events = when(order, go_in_transit)

        assert facts(events) == [("InTransit", {"shipment_id": SHIPMENT_ID, "courier_id": COURIER_ID})]
        assert order.status is OrderStatus.IN_TRANSIT
        assert (order.shipment_id, order.courier_id) == (SHIPMENT_ID, COURIER_ID)

    @pytest.mark.parametrize("status", states_except(OrderStatus.CONFIRMED))
    def test_only_a_confirmed_order_goes_in_transit(self, status: OrderStatus) -> None:
        then_rejected(order_in(status), go_in_transit, InvalidTransition)

    def test_an_order_in_transit_is_delivered(self) -> None:
        order = order_in(OrderStatus.IN_TRANSIT)

        assert names(when(order, Order.mark_delivered)) == ["Delivered"]
        assert order.status is OrderStatus.DELIVERED

    @pytest.mark.parametrize("status", states_except(OrderStatus.IN_TRANSIT))
    def test_only_an_order_in_transit_is_delivered(self, status: OrderStatus) -> None:
        then_rejected(order_in(status), Order.mark_delivered, InvalidTransition)

    def test_a_delivered_order_is_received(self) -> None:
        order = order_in(OrderStatus.DELIVERED)

        assert names(when(order, Order.confirm_receipt)) == ["Received"]
        assert order.status is OrderStatus.RECEIVED
        assert order.is_final

    @pytest.mark.parametrize("status", states_except(OrderStatus.DELIVERED))
    def test_only_a_delivered_order_is_received(self, status: OrderStatus) -> None:
        then_rejected(order_in(status), Order.confirm_receipt, InvalidTransition)


class TestFinalStates:
    @pytest.mark.parametrize("final", [received, *CANCELLED])
    @pytest.mark.parametrize("command", EVERY_COMMAND.values(), ids=EVERY_COMMAND.keys())
    def test_no_command_leaves_a_final_state(self, final: History, command: Command[Order]) -> None:
        order = given(*final(), kind=Order)
        before = deepcopy(order)
        assert order.is_final

        with suppress(InvalidTransition):
            command(order)

        assert order.pending_events == []
        assert order == before

    @pytest.mark.parametrize("status", states_except(OrderStatus.RECEIVED, OrderStatus.CANCELLED))
    def test_other_states_are_not_final(self, status: OrderStatus) -> None:
        assert not order_in(status).is_final


class TestReplay:
    @pytest.mark.parametrize("commands", [
        (),
        (Order.record_stock_reserved, Order.record_payment_authorized, go_in_transit, Order.mark_delivered),
        (Order.record_payment_authorized, Order.cancel),
        (Order.record_stock_rejected,),
    ], ids=["placed", "delivered", "cancelled", "out of stock"])
    def test_the_events_alone_rebuild_the_live_order(self, commands: tuple[Command[Order], ...]) -> None:
        live = place_order()
        events = history(live, *commands)

        assert given(*events, kind=Order) == live


class TestMessageIds:
    def test_events_carry_the_ids_of_the_message_being_handled(self) -> None:
        with message_context("order-42", "request-7"):
            order = place_order()
            order.record_stock_reserved()
        with message_context("order-42", "payment-event-9"):
            order.record_payment_authorized()

        events = order.collect_events()

        assert [(type(event).__name__, ids(event)) for event in events] == [
            ("Placed", ("order-42", "request-7")),
            ("StockReserved", ("order-42", "request-7")),
            ("PaymentAuthorized", ("order-42", "payment-event-9")),
            ("Confirmed", ("order-42", "payment-event-9")),
        ]

    def test_outside_any_message_the_ids_are_none(self) -> None:
        order = place_order()
        with message_context("order-42", "request-7"):
            pass
        order.cancel()

        assert [ids(event) for event in order.collect_events()] == [(None, None), (None, None)]

    def test_the_ids_of_an_enclosing_message_come_back_after_a_nested_one(self) -> None:
        order = given(*pending(), kind=Order)

        with message_context("outer", "outer-cause"):
            with message_context("inner", "inner-cause"):
                order.record_stock_reserved()
            order.record_payment_authorized()

        assert [ids(event) for event in order.collect_events()] == [
            ("inner", "inner-cause"),
            ("outer", "outer-cause"),
            ("outer", "outer-cause"),
        ]

    def test_the_ids_are_reset_when_the_handling_fails(self) -> None:
        order = given(*pending(), kind=Order)

        with pytest.raises(InvalidTransition), message_context("order-42", "request-7"):
            order.confirm_receipt()
        order.cancel()

        assert [ids(event) for event in order.collect_events()] == [(None, None)]
