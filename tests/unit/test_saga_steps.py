"""The fulfilment saga's steps in memory (the library's POPO persistence): upstream facts in, decisions out.

Each step is fed its upstreams' events in batches with their trackings, as `adapters.follower_runner` does;
`Saga` runs the four of them over one another's logs until nothing is left to do, in any order of edges a
test asks for. Outcomes are read back from the steps' stores. Dispatching's choice among many couriers and
batches is in test_dispatching.py; the same stories against real processes in tests/e2e/test_saga.py.
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from adapters.payment_gateway import SimulatedPaymentGateway
from commands.saga_steps import InventorySagaStep, OrdersSagaStep, PaymentsSagaStep, SagaStep, ShippingSagaStep
from domain.identity import Actor, Role
from domain.order import CancelReason, Order, OrderStatus
from domain.payment import Payment, PaymentStatus
from domain.reservation import ReservationStatus, StockReservation
from domain.shipping import CourierStatus, Shipment, ShipmentStatus
from domain.stock import Stock
from domain.values import DeliveryAddress, OrderLine

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
MONAS = DeliveryAddress("Jl. Medan Merdeka 1", -6.1754, 106.8272)


class Saga:
    """The four steps, each its context's store, and the edges along which one follows another's log."""

    def __init__(self) -> None:
        self.orders = OrdersSagaStep(env=POPO)
        self.inventory = InventorySagaStep(env=POPO)
        self.payments = PaymentsSagaStep(env=POPO, gateway=SimulatedPaymentGateway())
        self.shipping = ShippingSagaStep(env=POPO)
        self.edges: dict[str, tuple[SagaStep, SagaStep]] = {
            "orders->inventory": (self.orders, self.inventory),
            "orders->payments": (self.orders, self.payments),
            "orders->shipping": (self.orders, self.shipping),
            "inventory->orders": (self.inventory, self.orders),
            "payments->orders": (self.payments, self.orders),
            "shipping->orders": (self.shipping, self.orders),
        }

    def run(self, *edges: str) -> None:
        """Until no step has an upstream event left to take (along the edges named, or all of them)."""
        followed = [self.edges[name] for name in edges] if edges else list(self.edges.values())
        while any([self.feed(upstream, step) for upstream, step in followed]):
            pass

    @staticmethod
    def feed(upstream: SagaStep, step: SagaStep, batch_size: int = 3) -> bool:
        """The next batch of `upstream`'s log after the step's tracking position; whether there was one."""
        position = step.recorder.max_tracking_id(upstream.name) or 0
        notifications = upstream.recorder.select_notifications(start=position + 1, limit=batch_size)
        if not notifications:
            return False
        step.process_batch([(upstream.mapper.to_domain_event(notification), Tracking(upstream.name, notification.id))
                            for notification in notifications], upstream=upstream.name)
        return True

    def product(self, sku: str, on_hand: int, price: str = "2.50") -> UUID:
        stock, _ = self.inventory.create_product(sku, sku.title(), price, on_hand)
        return stock.id

    def courier(self, name: str, lat: float, lng: float) -> UUID:
        courier, _ = self.shipping.register_courier(name, lat, lng)
        return courier.id

    def place(self, customer: str, product_id: UUID, quantity: int = 1, token: str = "tok_ok") -> UUID:
        price = self.inventory.get_stock(product_id).price
        order, _ = self.orders.place_order(customer, [OrderLine(product_id, quantity, price)], token, MONAS)
        return order.id

    def order(self, order_id: UUID) -> Order:
        return self.orders.get_order(order_id)

    def stock(self, product_id: UUID) -> Stock:
        return self.inventory.get_stock(product_id)

    def reservation(self, order_id: UUID) -> ReservationStatus:
        reservation = self.inventory.load(StockReservation.create_id(order_id), StockReservation)
        status: ReservationStatus = reservation.status
        return status

    def payment(self, order_id: UUID) -> PaymentStatus:
        status: PaymentStatus = self.payments.get_payment_for(order_id).status
        return status

    def close(self) -> None:
        for step in (self.orders, self.inventory, self.payments, self.shipping):
            step.close()


@pytest.fixture
def saga() -> Iterator[Saga]:
    running = Saga()
    yield running
    running.close()


def names(step: SagaStep, aggregate_id: UUID) -> list[str]:
    return [type(event).__name__ for event in step.events.get(aggregate_id)]


def placed(order: Order) -> Any:
    return next(event for event in order.collect_events() if type(event).__name__ == "Placed")


class TestOneStep:
    def test_a_placed_order_reserves_every_line_on_its_stock(self, saga: Saga) -> None:
        kopi, teh = saga.product("KOPI", 5), saga.product("TEH", 5)
        order = Order.place("alice", [OrderLine(kopi, 2, Decimal("1")), OrderLine(teh, 1, Decimal("1"))], "tok_ok",
                            MONAS)

        saga.inventory.process_event(placed(order), Tracking("Orders", 1))

        assert saga.reservation(order.id) is ReservationStatus.HELD
        assert (saga.stock(kopi).reserved, saga.stock(teh).reserved) == (2, 1)
        assert saga.inventory.recorder.max_tracking_id("Orders") == 1

    def test_one_short_line_rejects_the_whole_order_and_reserves_nothing(self, saga: Saga) -> None:
        kopi, teh = saga.product("KOPI", 5), saga.product("TEH", 1)
        order = Order.place("alice", [OrderLine(kopi, 2, Decimal("1")), OrderLine(teh, 3, Decimal("1"))], "tok_ok",
                            MONAS)

        saga.inventory.process_event(placed(order), Tracking("Orders", 1))

        assert saga.reservation(order.id) is ReservationStatus.REJECTED
        assert (saga.stock(kopi).available, saga.stock(teh).available) == (5, 1)

    def test_an_event_delivered_again_is_applied_once(self, saga: Saga) -> None:
        kopi = saga.product("KOPI", 5)
        order = Order.place("alice", [OrderLine(kopi, 2, Decimal("1"))], "tok_ok", MONAS)
        event = placed(order)
        saga.inventory.process_event(event, Tracking("Orders", 1))
        recorded = saga.inventory.head_position()

        saga.inventory.process_event(event, Tracking("Orders", 1))

        assert saga.inventory.head_position() == recorded
        assert saga.stock(kopi).reserved == 2
        assert names(saga.inventory, StockReservation.create_id(order.id)) == ["Requested", "Held"]

    @pytest.mark.parametrize(("token", "status"), [("tok_ok", PaymentStatus.AUTHORIZED),
                                                    ("tok_decline", PaymentStatus.DECLINED),
                                                    ("tok_timeout", PaymentStatus.REQUESTED)])
    def test_a_placed_order_asks_the_gateway_for_its_total(self, saga: Saga, token: str,
                                                           status: PaymentStatus) -> None:
        order = Order.place("alice", [OrderLine(saga.product("KOPI", 5), 3, Decimal("2.50"))], token, MONAS)

        saga.payments.process_event(placed(order), Tracking("Orders", 1))

        payment = saga.payments.get_payment_for(order.id)
        assert (payment.status, payment.amount) == (status, Decimal("7.50"))

    @pytest.mark.parametrize("first", ["Payments", "Inventory"])
    def test_the_order_is_confirmed_once_both_the_stock_and_the_payment_are_in_whichever_comes_first(
            self, saga: Saga, first: str) -> None:
        kopi = saga.product("KOPI", 5)
        order_id = saga.place("alice", kopi)
        payment = Payment(order_id=order_id, amount=Decimal("2.50"), token="tok_ok")
        payment.authorize("auth-1")
        reservation = StockReservation.reserve(order_id, saga.order(order_id).lines, {kopi: saga.stock(kopi)})
        facts = {"Payments": list(payment.collect_events()), "Inventory": list(reservation.collect_events())}
        second = "Inventory" if first == "Payments" else "Payments"

        saga.orders.process_batch([(event, Tracking(first, n)) for n, event in enumerate(facts[first], 1)],
                                  upstream=first)
        assert saga.order(order_id).status is OrderStatus.PENDING
        saga.orders.process_batch([(event, Tracking(second, n)) for n, event in enumerate(facts[second], 1)],
                                  upstream=second)

        assert saga.order(order_id).status is OrderStatus.CONFIRMED
        assert sorted(names(saga.orders, order_id)) == ["Confirmed", "PaymentAuthorized", "Placed", "StockReserved"]
        assert names(saga.orders, order_id)[-1] == "Confirmed"


class TestTheSaga:
    def test_a_confirmed_order_goes_in_transit_with_the_nearest_free_courier_and_settles_stock_and_payment(
            self, saga: Saga) -> None:
        kopi = saga.product("KOPI", 5)
        far = saga.courier("far", -6.5971, 106.8060)
        near = saga.courier("near", -6.1950, 106.8230)
        next_door = saga.courier("next door", -6.1754, 106.8272)
        earlier = saga.place("zoe", kopi)
        saga.run()
        assert saga.shipping.get_shipment(Shipment.create_id(earlier)).courier_id == next_door

        order_id = saga.place("alice", kopi, quantity=2)
        saga.run()

        shipment_id = Shipment.create_id(order_id)
        assert saga.shipping.get_shipment(shipment_id).status is ShipmentStatus.ASSIGNED
        assert saga.shipping.get_shipment(shipment_id).courier_id == near  # next door is busy, far is farther
        assert saga.shipping.get_courier(near).shipment_id == shipment_id
        assert saga.shipping.get_courier(far).status is CourierStatus.AVAILABLE
        # On its way to pick the goods up: the order is not in transit, and nothing is settled yet.
        assert saga.order(order_id).status is OrderStatus.CONFIRMED
        assert saga.reservation(order_id) is ReservationStatus.HELD
        assert saga.payment(order_id) is PaymentStatus.AUTHORIZED

        saga.shipping.pick_up(Actor(Role.COURIER, str(near)), shipment_id)
        saga.run()

        order = saga.order(order_id)
        assert order.status is OrderStatus.IN_TRANSIT
        assert (order.shipment_id, order.courier_id) == (shipment_id, near)
        assert saga.reservation(order_id) is ReservationStatus.COMMITTED
        assert (saga.stock(kopi).on_hand, saga.stock(kopi).reserved) == (3, 1)  # zoe's held till her pick-up
        assert saga.payment(order_id) is PaymentStatus.CAPTURED

    def test_a_declined_payment_cancels_the_order_and_gives_its_stock_back(self, saga: Saga) -> None:
        kopi = saga.product("KOPI", 3)
        saga.courier("idle", -6.2, 106.8)

        order_id = saga.place("carol", kopi, quantity=2, token="tok_decline")
        saga.run()

        order = saga.order(order_id)
        assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, CancelReason.PAYMENT_DECLINED)
        assert saga.reservation(order_id) is ReservationStatus.RELEASED
        assert saga.stock(kopi).available == 3
        assert saga.shipping.find_shipment_for(order_id) is None

    def test_out_of_stock_cancels_the_order_and_voids_its_authorization(self, saga: Saga) -> None:
        rare = saga.product("RARE", 1)

        order_id = saga.place("bob", rare, quantity=2)
        saga.run()

        order = saga.order(order_id)
        assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, CancelReason.OUT_OF_STOCK)
        assert saga.payment(order_id) is PaymentStatus.VOIDED
        assert saga.stock(rare).available == 1

    def test_an_unanswered_payment_that_times_out_cancels_the_order_and_releases_its_stock(self, saga: Saga) -> None:
        gula = saga.product("GULA", 3)
        order_id = saga.place("dan", gula, token="tok_timeout")
        saga.run()
        assert saga.order(order_id).status is OrderStatus.PENDING

        assert saga.payments.time_out(Payment.create_id(order_id))  # what the deadline timer does
        saga.run()

        order = saga.order(order_id)
        assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, CancelReason.PAYMENT_TIMEOUT)
        assert saga.reservation(order_id) is ReservationStatus.RELEASED
        assert saga.stock(gula).available == 3

    def test_a_customer_cancelling_an_order_that_waits_for_a_courier_calls_everything_off(self, saga: Saga) -> None:
        susu = saga.product("SUSU", 4)
        order_id = saga.place("erin", susu, quantity=3)
        saga.run()
        assert saga.order(order_id).status is OrderStatus.CONFIRMED  # no courier: it waits
        shipment_id = Shipment.create_id(order_id)
        assert saga.shipping.get_shipment(shipment_id).status is ShipmentStatus.WAITING_FOR_COURIER

        saga.orders.cancel_order(Actor(Role.CUSTOMER, "erin"), order_id)
        saga.run()

        assert saga.reservation(order_id) is ReservationStatus.RELEASED
        assert saga.payment(order_id) is PaymentStatus.VOIDED
        assert saga.shipping.get_shipment(shipment_id).status is ShipmentStatus.CANCELLED
        # A courier registered afterwards is not given the called-off shipment.
        assert saga.shipping.get_courier(saga.courier("late", -6.2, 106.8)).status is CourierStatus.AVAILABLE

    def test_a_receipt_frees_the_courier_for_the_order_that_waited(self, saga: Saga) -> None:
        beras = saga.product("BERAS", 10)
        courier = saga.courier("only", -6.2, 106.8)
        first = saga.place("fay", beras)
        saga.run()
        second = saga.place("gus", beras)
        saga.run()
        saga.shipping.pick_up(Actor(Role.COURIER, str(courier)), Shipment.create_id(first))
        saga.run()
        assert saga.order(first).status is OrderStatus.IN_TRANSIT
        assert saga.order(second).status is OrderStatus.CONFIRMED
        assert saga.shipping.get_shipment(Shipment.create_id(second)).status is ShipmentStatus.WAITING_FOR_COURIER

        saga.shipping.mark_delivered(Actor(Role.COURIER, str(courier)), Shipment.create_id(first))
        saga.run()
        assert saga.order(first).status is OrderStatus.DELIVERED
        assert saga.order(second).status is OrderStatus.CONFIRMED  # the courier is not free until the receipt
        saga.orders.confirm_receipt(Actor(Role.CUSTOMER, "fay"), first)
        saga.run()

        assert saga.order(first).status is OrderStatus.RECEIVED
        handed = saga.shipping.get_shipment(Shipment.create_id(second))
        assert (handed.status, handed.courier_id) == (ShipmentStatus.ASSIGNED, courier)
        assert saga.order(second).status is OrderStatus.CONFIRMED  # until the courier picks it up

    def test_a_courier_assigned_to_an_order_cancelled_meanwhile_is_freed_and_the_order_stays_cancelled(
            self, saga: Saga) -> None:
        kopi = saga.product("KOPI", 5)
        courier = saga.courier("quick", -6.2, 106.8)
        order_id = saga.place("hana", kopi)
        saga.run("orders->inventory", "orders->payments", "inventory->orders", "payments->orders", "orders->shipping")
        assert saga.shipping.get_shipment(Shipment.create_id(order_id)).courier_id == courier
        assert saga.order(order_id).status is OrderStatus.CONFIRMED  # the courier is on its way to pick it up

        saga.orders.cancel_order(Actor(Role.CUSTOMER, "hana"), order_id)
        saga.run()

        assert saga.order(order_id).status is OrderStatus.CANCELLED
        assert "InTransit" not in names(saga.orders, order_id)
        assert saga.shipping.get_shipment(Shipment.create_id(order_id)).status is ShipmentStatus.CANCELLED
        assert saga.shipping.get_courier(courier).status is CourierStatus.AVAILABLE
        assert saga.payment(order_id) is PaymentStatus.VOIDED
        assert saga.stock(kopi).available == 5
