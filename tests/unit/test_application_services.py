"""The four contexts' application services in memory: the library's POPO persistence, no I/O.

What an API call asks of the write side and what it answers: the state it recorded, and its refusals (not found,
forbidden, domain errors) leaving nothing recorded. The saga's decisions are in test_saga_steps.py; dispatching's
candidate choice in test_dispatching.py.
"""

from collections.abc import Iterator
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from adapters.payment_gateway import SimulatedPaymentGateway
from commands.errors import AlreadyExists, Forbidden, NotFound
from commands.inventory import Inventory
from commands.order_placement import PlaceOrderHandler, RequestedItem
from commands.orders import Orders
from commands.payments import Payments
from commands.ports import Checkpoint
from commands.shipping import Shipping
from domain.errors import InvalidTransition, InvalidValue, ProductDiscontinued
from domain.identity import Actor, Role
from domain.order import CancelReason, Order, OrderCannotBeCancelled, OrderStatus
from domain.payment import Payment, PaymentStatus
from domain.shipping import CourierStatus, Shipment, ShipmentStatus
from domain.stock import Stock
from domain.values import DeliveryAddress, OrderLine

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
ADDRESS = DeliveryAddress("Jl. Jaksa 5", -6.186, 106.830)
ADMIN = Actor(Role.ADMIN, "ops")


def customer(name: str) -> Actor:
    return Actor(Role.CUSTOMER, name)


@pytest.fixture
def inventory() -> Iterator[Inventory]:
    app = Inventory(env=POPO)
    yield app
    app.close()


@pytest.fixture
def orders() -> Iterator[Orders]:
    app = Orders(env=POPO)
    yield app
    app.close()


@pytest.fixture
def payments() -> Iterator[Payments]:
    app = Payments(env=POPO, gateway=SimulatedPaymentGateway())
    yield app
    app.close()


@pytest.fixture
def shipping() -> Iterator[Shipping]:
    app = Shipping(env=POPO)
    yield app
    app.close()


@pytest.fixture
def place(orders: Orders, inventory: Inventory) -> PlaceOrderHandler:
    return PlaceOrderHandler(orders, inventory, SimulatedPaymentGateway())


def stored_events(app: Orders | Inventory | Payments | Shipping, aggregate_id: UUID) -> list[str]:
    return [type(event).__qualname__ for event in app.events.get(aggregate_id)]


class TestInventory:
    def test_a_created_product_is_stocked_and_priced_as_asked(self, inventory: Inventory) -> None:
        stock, _ = inventory.create_product("kopi-1", "Kopi Susu", "25000.00", 10)

        stored = inventory.get_stock(stock.id)
        assert (stored.sku, stored.name, stored.price, stored.on_hand, stored.available) == (
            "KOPI-1", "Kopi Susu", Decimal("25000.00"), 10, 10)
        assert stock.id == Stock.create_id("KOPI-1")

    def test_a_second_product_with_the_same_sku_is_refused(self, inventory: Inventory) -> None:
        first, _ = inventory.create_product("TEH", "Teh", "3.00", 1)

        with pytest.raises(AlreadyExists) as refused:
            inventory.create_product("teh", "Teh again", "4.00", 2)

        assert (refused.value.key, refused.value.entity_id) == ("TEH", first.id)
        assert inventory.get_stock(first.id).name == "Teh"

    def test_updates_and_restocks_change_the_stored_product(self, inventory: Inventory) -> None:
        stock, _ = inventory.create_product("GULA", "Gula", "2.00", 3)

        inventory.update_product(stock.id, "Gula Aren", "2.50")
        inventory.restock(stock.id, 7, "a delivery came in")

        stored = inventory.get_stock(stock.id)
        assert (stored.name, stored.price, stored.on_hand) == ("Gula Aren", Decimal("2.50"), 10)
        assert stored_events(inventory, stock.id) == ["Stock.ProductCreated", "Stock.ProductUpdated", "Stock.Restocked"]

    def test_a_discontinued_product_leaves_the_catalog_orderable_no_more_and_refuses_restocking(
            self, inventory: Inventory) -> None:
        stock, _ = inventory.create_product("SUSU", "Susu", "1.00", 5)

        inventory.discontinue_product(stock.id)

        assert inventory.entries([stock.id])[stock.id].orderable is False
        with pytest.raises(ProductDiscontinued):
            inventory.restock(stock.id, 1, "too late")
        assert inventory.get_stock(stock.id).on_hand == 5

    @pytest.mark.parametrize("quantity", [0, -3])
    def test_a_restock_of_nothing_is_refused(self, inventory: Inventory, quantity: int) -> None:
        stock, _ = inventory.create_product("BERAS", "Beras", "1.00", 5)

        with pytest.raises(InvalidValue):
            inventory.restock(stock.id, quantity, "nothing")

        assert inventory.get_stock(stock.id).on_hand == 5

    def test_an_unknown_product_is_not_found_and_absent_from_the_catalog(self, inventory: Inventory) -> None:
        unknown = uuid4()

        with pytest.raises(NotFound) as missing:
            inventory.restock(unknown, 1, "for nobody")

        assert missing.value.kind == "product"
        assert inventory.entries([unknown]) == {}


class TestOrders:
    def test_a_placed_order_is_pending_priced_from_the_catalog(
            self, inventory: Inventory, place: PlaceOrderHandler) -> None:
        kopi, _ = inventory.create_product("KOPI", "Kopi", "4.50", 10)
        teh, _ = inventory.create_product("TEH", "Teh", "3.00", 10)

        order, _ = place("alice", [RequestedItem(kopi.id, 2), RequestedItem(teh.id, 1)], "tok_ok", ADDRESS)

        assert order.status is OrderStatus.PENDING
        assert [(line.product_id, line.quantity, line.unit_price) for line in order.lines] == [
            (kopi.id, 2, Decimal("4.50")), (teh.id, 1, Decimal("3.00"))]
        assert order.total == Decimal("12.00")

    def test_placing_again_with_the_same_order_id_answers_the_first_order(
            self, orders: Orders, inventory: Inventory, place: PlaceOrderHandler) -> None:
        kopi, _ = inventory.create_product("KOPI", "Kopi", "4.50", 10)
        order_id = uuid4()

        first, _ = place("alice", [RequestedItem(kopi.id, 1)], "tok_ok", ADDRESS, order_id=order_id)
        again, _ = place("alice", [RequestedItem(kopi.id, 1)], "tok_ok", ADDRESS, order_id=order_id)

        assert again.id == first.id == order_id
        assert stored_events(orders, order_id) == ["Order.Placed"]

    @pytest.mark.parametrize(("items", "token", "field"), [
        ("none", "tok_ok", "items"),
        ("unknown", "tok_ok", "items[0].product_id"),
        ("discontinued", "tok_ok", "items[0].product_id"),
        ("kopi", "tok_nobody_issued", "payment.token"),
    ])
    def test_what_cannot_be_ordered_is_refused_naming_the_field_and_nothing_is_recorded(
            self, orders: Orders, inventory: Inventory, place: PlaceOrderHandler, items: str, token: str,
            field: str) -> None:
        kopi, _ = inventory.create_product("KOPI", "Kopi", "4.50", 10)
        gone, _ = inventory.create_product("GONE", "Gone", "1.00", 10)
        inventory.discontinue_product(gone.id)
        requested = {"none": [], "unknown": [RequestedItem(uuid4(), 1)], "discontinued": [RequestedItem(gone.id, 1)],
                     "kopi": [RequestedItem(kopi.id, 1)]}[items]

        with pytest.raises(InvalidValue) as refused:
            place("alice", requested, token, ADDRESS)

        assert refused.value.field == field
        assert orders.head_position() == 0

    def test_another_customers_order_is_not_found_but_an_admin_sees_it(
            self, orders: Orders, inventory: Inventory, place: PlaceOrderHandler) -> None:
        kopi, _ = inventory.create_product("KOPI", "Kopi", "4.50", 10)
        order, _ = place("alice", [RequestedItem(kopi.id, 1)], "tok_ok", ADDRESS)

        with pytest.raises(NotFound):
            orders.get_order(order.id, customer("mallory"))
        with pytest.raises(NotFound):
            orders.cancel_order(customer("mallory"), order.id)

        assert orders.get_order(order.id, ADMIN).customer_id == "alice"
        assert orders.get_order(order.id).status is OrderStatus.PENDING

    def test_the_customer_cancels_a_pending_order_with_a_note(self, orders: Orders) -> None:
        order, _ = orders.place_order("alice", [OrderLine(uuid4(), 1, Decimal("2.00"))], "tok_ok", ADDRESS)

        orders.cancel_order(customer("alice"), order.id, "ordered by mistake")

        stored = orders.get_order(order.id)
        assert (stored.status, stored.cancel_reason, stored.cancel_note) == (
            OrderStatus.CANCELLED, CancelReason.CUSTOMER_CANCELLED, "ordered by mistake")

    def test_an_order_on_its_way_can_no_longer_be_cancelled_and_a_receipt_needs_a_delivery(
            self, orders: Orders) -> None:
        order = Order.place("alice", [OrderLine(uuid4(), 1, Decimal("2.00"))], "tok_ok", ADDRESS)
        order.record_stock_reserved()
        order.record_payment_authorized()
        order.mark_in_transit(uuid4(), uuid4())
        orders.save(order)

        with pytest.raises(OrderCannotBeCancelled):
            orders.cancel_order(customer("alice"), order.id)
        with pytest.raises(InvalidTransition):
            orders.confirm_receipt(customer("alice"), order.id)

        assert orders.get_order(order.id).status is OrderStatus.IN_TRANSIT

    def test_an_unknown_order_is_not_found(self, orders: Orders) -> None:
        with pytest.raises(NotFound) as missing:
            orders.confirm_receipt(ADMIN, uuid4())
        assert missing.value.kind == "order"


class TestPayments:
    @pytest.mark.parametrize(("token", "status"), [
        ("tok_ok", PaymentStatus.AUTHORIZED),
        ("tok_decline", PaymentStatus.DECLINED),
        ("tok_timeout", PaymentStatus.REQUESTED),
    ])
    def test_the_gateways_answer_decides_the_payment(self, payments: Payments, token: str,
                                                     status: PaymentStatus) -> None:
        order_id = uuid4()

        payments.save(*payments.request_payment(order_id, Decimal("9.00"), token))

        payment = payments.get_payment_for(order_id)
        assert (payment.status, payment.amount, payment.id) == (status, Decimal("9.00"), Payment.create_id(order_id))

    def test_a_second_request_for_one_order_changes_nothing(self, payments: Payments) -> None:
        order_id = uuid4()
        payments.save(*payments.request_payment(order_id, Decimal("9.00"), "tok_ok"))

        assert payments.request_payment(order_id, Decimal("9.00"), "tok_ok") == []

    def test_an_authorization_is_captured_once_and_then_neither_voided_nor_captured_again(
            self, payments: Payments) -> None:
        order_id = uuid4()
        payments.save(*payments.request_payment(order_id, Decimal("9.00"), "tok_ok"))

        payments.save(*payments.capture_for(order_id))

        assert payments.get_payment_for(order_id).status is PaymentStatus.CAPTURED
        assert payments.void_for(order_id) == []
        assert payments.capture_for(order_id) == []

    def test_an_unanswered_payment_times_out_once_and_an_answered_one_not_at_all(self, payments: Payments) -> None:
        waiting, answered = uuid4(), uuid4()
        payments.save(*payments.request_payment(waiting, Decimal("1.00"), "tok_timeout"))
        payments.save(*payments.request_payment(answered, Decimal("1.00"), "tok_ok"))

        assert payments.time_out(Payment.create_id(waiting)) is True
        assert payments.time_out(Payment.create_id(waiting)) is False
        assert payments.time_out(Payment.create_id(answered)) is False

        assert payments.get_payment_for(waiting).status is PaymentStatus.TIMED_OUT
        assert payments.get_payment_for(answered).status is PaymentStatus.AUTHORIZED

    def test_no_payment_for_an_order_is_not_found_and_nothing_to_compensate(self, payments: Payments) -> None:
        order_id = uuid4()

        with pytest.raises(NotFound):
            payments.get_payment_for(order_id)
        assert payments.void_for(order_id) == []
        assert payments.capture_for(order_id) == []

    def test_without_a_gateway_a_payment_cannot_be_requested(self) -> None:
        app = Payments(env=POPO)
        try:
            with pytest.raises(RuntimeError, match="without a payment gateway"):
                app.request_payment(uuid4(), Decimal("1.00"), "tok_ok")
        finally:
            app.close()


class TestShipping:
    def carried(self, shipping: Shipping) -> tuple[UUID, Shipment]:
        courier, _ = shipping.register_courier("Budi", -6.2, 106.8)
        order_id = uuid4()
        shipping.save(*shipping.ship_order(order_id, "alice", ADDRESS))
        shipment = shipping.find_shipment_for(order_id)
        assert shipment is not None
        assert shipment.courier_id == courier.id
        return courier.id, shipment

    def test_a_registered_courier_is_available_where_it_said(self, shipping: Shipping) -> None:
        courier, _ = shipping.register_courier("Budi", -6.2, 106.8)

        stored = shipping.get_courier(courier.id)
        assert (stored.name, stored.status, stored.position.lat, stored.position.lng) == (
            "Budi", CourierStatus.AVAILABLE, -6.2, 106.8)

    def test_a_checkpoint_goes_on_the_carried_shipment_and_on_a_free_courier_itself(self, shipping: Shipping) -> None:
        courier_id, shipment = self.carried(shipping)
        free, _ = shipping.register_courier("Ani", -6.1, 106.7)

        recorded = shipping.record_checkpoints([Checkpoint(courier_id, -6.19, 106.82),
                                                Checkpoint(free.id, -6.11, 106.71)])

        assert recorded == 2
        moved = shipping.get_shipment(shipment.id)
        assert moved.position is not None
        assert (moved.position.lat, moved.position.lng) == (-6.19, 106.82)
        assert shipping.get_courier(courier_id).position.lat == -6.2  # a carrying courier's route is the shipment's
        assert shipping.get_courier(free.id).position.lat == -6.11

    def test_a_courier_may_act_as_itself_only(self, shipping: Shipping) -> None:
        courier_id, _ = self.carried(shipping)
        other, _ = shipping.register_courier("Ani", -6.1, 106.7)

        with pytest.raises(Forbidden):
            shipping.set_shift(Actor(Role.COURIER, str(other.id)), courier_id, on_duty=False)

        assert shipping.get_courier(courier_id).on_duty

    def test_the_carrier_picks_up_and_the_shipment_goes_in_transit(self, shipping: Shipping) -> None:
        courier_id, shipment = self.carried(shipping)

        picked, _ = shipping.pick_up(Actor(Role.COURIER, str(courier_id)), shipment.id)

        assert picked.status is ShipmentStatus.IN_TRANSIT
        with pytest.raises(NotFound):
            shipping.pick_up(Actor(Role.COURIER, str(uuid4())), shipment.id)

    def test_ending_a_shift_hands_an_unpicked_shipment_to_the_nearest_free_courier(self, shipping: Shipping) -> None:
        courier_id, shipment = self.carried(shipping)
        near, _ = shipping.register_courier("Near", -6.21, 106.81)
        shipping.register_courier("Far", -6.6, 106.8)

        courier, _ = shipping.set_shift(Actor(Role.COURIER, str(courier_id)), courier_id, on_duty=False)

        assert not courier.on_duty
        assert shipping.get_shipment(shipment.id).courier_id == near.id
        assert shipping.get_courier(near.id).shipment_id == shipment.id

    def test_a_silent_courier_loses_an_unpicked_shipment_and_goes_off_duty(self, shipping: Shipping) -> None:
        courier_id, shipment = self.carried(shipping)

        assert shipping.reassign_silent(courier_id) == 1

        assert not shipping.get_courier(courier_id).on_duty
        assert shipping.get_shipment(shipment.id).status is ShipmentStatus.WAITING_FOR_COURIER
        back, _ = shipping.set_shift(Actor(Role.ADMIN, "ops"), courier_id, on_duty=True)
        assert back.shipment_id == shipment.id  # the waiting queue is served when a courier comes on duty

    def test_a_courier_carrying_a_picked_up_shipment_cannot_end_the_shift(self, shipping: Shipping) -> None:
        courier_id, shipment = self.carried(shipping)
        shipping.pick_up(Actor(Role.ADMIN, "ops"), shipment.id)

        with pytest.raises(InvalidTransition):
            shipping.set_shift(Actor(Role.COURIER, str(courier_id)), courier_id, on_duty=False)
        assert shipping.reassign_silent(courier_id) == 0

    def test_only_the_carrier_or_an_admin_marks_a_shipment_delivered(self, shipping: Shipping) -> None:
        courier_id, shipment = self.carried(shipping)
        other, _ = shipping.register_courier("Ani", -6.1, 106.7)
        with pytest.raises(InvalidTransition):
            shipping.mark_delivered(Actor(Role.COURIER, str(courier_id)), shipment.id)  # not picked up yet
        shipping.pick_up(Actor(Role.COURIER, str(courier_id)), shipment.id)

        with pytest.raises(NotFound):
            shipping.mark_delivered(Actor(Role.COURIER, str(other.id)), shipment.id)
        assert shipping.get_shipment(shipment.id).status is ShipmentStatus.IN_TRANSIT

        delivered, _ = shipping.mark_delivered(Actor(Role.COURIER, str(courier_id)), shipment.id)

        assert delivered.status is ShipmentStatus.DELIVERED
        with pytest.raises(InvalidTransition):
            shipping.mark_delivered(ADMIN, shipment.id)

    def test_an_unknown_courier_or_shipment_is_not_found(self, shipping: Shipping) -> None:
        with pytest.raises(NotFound):
            shipping.get_courier(uuid4())
        with pytest.raises(NotFound):
            shipping.mark_delivered(ADMIN, uuid4())
        assert shipping.find_shipment_for(uuid4()) is None
