"""The fulfilment saga end to end: the command API and `logistics worker` as separate processes, real PostgreSQL.

Every outcome an order can reach, the race for the last unit, and a worker killed mid-stream.
"""

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

import pytest

from adapters.database import Database
from domain.order import CancelReason, OrderStatus
from domain.payment import PaymentStatus
from domain.reservation import ReservationStatus, StockReservation
from domain.shipping import CourierStatus, Shipment, ShipmentStatus
from tests.e2e.stack import FINAL, Stack, events_named, running_stack
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(database: Database, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(database, tmp_path, LOGISTICS_PAYMENT_TIMEOUT_S="2") as running:
        yield running


def reservation_status(stack: Stack, order_id: UUID) -> ReservationStatus:
    reservation: StockReservation = stack.read.inventory.repository.get(StockReservation.create_id(order_id))
    status: ReservationStatus = reservation.status
    return status


def test_an_order_travels_to_received_and_frees_its_courier(stack: Stack) -> None:
    product = stack.create_product("TEH", stock=5, price="4.50")
    courier_id, courier_token = stack.register_courier(-6.19, 106.82)
    courier = {"Authorization": f"Bearer {courier_token}"}
    order_id = stack.place("alice", product, quantity=2)

    # Assigned, the courier on its way to pick the goods up: nothing is settled before the pick-up.
    shipment = stack.wait_for_courier(order_id)
    assert (shipment.status, shipment.courier_id) == (ShipmentStatus.ASSIGNED, courier_id)
    assert stack.order(order_id).status is OrderStatus.CONFIRMED
    assert stack.read.payments.get_payment_for(order_id).status is PaymentStatus.AUTHORIZED
    stock = stack.read.inventory.get_stock(product)
    assert (stock.on_hand, stock.reserved) == (5, 2)

    order = stack.pick_up(order_id, courier)
    assert (order.shipment_id, order.courier_id) == (shipment.id, courier_id)
    stack.wait_for(order_id, lambda _: stack.read.payments.get_payment_for(order_id).status is PaymentStatus.CAPTURED)
    stack.wait_for(order_id, lambda _: reservation_status(stack, order_id) is ReservationStatus.COMMITTED)
    stock = stack.read.inventory.get_stock(product)
    assert (stock.on_hand, stock.reserved) == (3, 0)

    shipment_id = order.shipment_id
    assert stack.http.post(f"/api/couriers/{courier_id}/location", headers=courier,
                           json={"lat": -6.186, "lng": 106.829}).status_code == 202
    assert stack.http.post(f"/api/shipments/{shipment_id}/delivered", headers=courier).status_code == 202
    stack.wait_for_status(order_id, OrderStatus.DELIVERED)
    assert stack.http.post(f"/api/orders/{order_id}/receipt",
                           headers=stack.bearer("customer", "alice")).status_code == 202
    stack.wait_for_status(order_id, OrderStatus.RECEIVED)
    eventually(lambda: stack.read.shipping.get_courier(courier_id).status is CourierStatus.AVAILABLE, timeout=60,
               interval=0.2, what="the courier freed")


def test_out_of_stock_cancels_and_voids_the_authorization(stack: Stack) -> None:
    product = stack.create_product("RARE", stock=1)
    order_id = stack.place("bob", product, quantity=2)
    order = stack.wait_for_status(order_id, OrderStatus.CANCELLED)
    assert order.cancel_reason is CancelReason.OUT_OF_STOCK
    stack.wait_for(order_id, lambda _: stack.read.payments.get_payment_for(order_id).status is PaymentStatus.VOIDED)
    assert stack.read.inventory.get_stock(product).available == 1


def test_a_declined_payment_cancels_and_releases_the_stock(stack: Stack) -> None:
    product = stack.create_product("KOPI", stock=3)
    order_id = stack.place("carol", product, quantity=2, token="tok_decline")
    assert stack.wait_for_status(order_id, OrderStatus.CANCELLED).cancel_reason is CancelReason.PAYMENT_DECLINED
    stack.wait_for(order_id, lambda _: reservation_status(stack, order_id) is ReservationStatus.RELEASED)
    assert stack.read.inventory.get_stock(product).available == 3
    assert stack.read.payments.get_payment_for(order_id).status is PaymentStatus.DECLINED


def test_an_unanswered_payment_times_out(stack: Stack) -> None:
    product = stack.create_product("GULA", stock=3)
    order_id = stack.place("dan", product, token="tok_timeout")
    assert stack.wait_for_status(order_id, OrderStatus.CANCELLED).cancel_reason is CancelReason.PAYMENT_TIMEOUT
    assert stack.read.payments.get_payment_for(order_id).status is PaymentStatus.TIMED_OUT
    stack.wait_for(order_id, lambda _: reservation_status(stack, order_id) is ReservationStatus.RELEASED)
    assert stack.read.inventory.get_stock(product).available == 3


def test_a_customer_cancellation_releases_stock_and_voids_payment(stack: Stack) -> None:
    product = stack.create_product("SUSU", stock=4)
    order_id = stack.place("erin", product, quantity=3)
    stack.wait_for_status(order_id, OrderStatus.CONFIRMED)  # no courier: it waits, still cancellable
    response = stack.http.post(f"/api/orders/{order_id}/cancel", headers=stack.bearer("customer", "erin"))
    assert response.status_code == 202
    assert stack.order(order_id).cancel_reason is CancelReason.CUSTOMER_CANCELLED
    stack.wait_for(order_id, lambda _: reservation_status(stack, order_id) is ReservationStatus.RELEASED)
    stack.wait_for(order_id, lambda _: stack.read.payments.get_payment_for(order_id).status is PaymentStatus.VOIDED)
    assert stack.read.inventory.get_stock(product).available == 4
    # The shipment that waited for a courier is called off, so a new courier does not take it.
    courier_id, _ = stack.register_courier()
    assert stack.read.shipping.get_courier(courier_id).status is CourierStatus.AVAILABLE


def test_a_confirmed_order_waits_for_a_free_courier(stack: Stack) -> None:
    product = stack.create_product("BERAS", stock=10)
    first = stack.place("fay", product)
    second = stack.place("gus", product)
    stack.wait_for_status(first, OrderStatus.CONFIRMED)
    stack.wait_for_status(second, OrderStatus.CONFIRMED)
    courier_id, courier_token = stack.register_courier()
    courier = {"Authorization": f"Bearer {courier_token}"}
    eventually(lambda: stack.read.shipping.get_courier(courier_id).shipment_id, timeout=90, interval=0.2,
               what="the courier given one of the waiting shipments")
    taken = stack.read.shipping.get_courier(courier_id).shipment_id
    first_served, waiting = (first, second) if taken == Shipment.create_id(first) else (second, first)
    assert stack.order(waiting).status is OrderStatus.CONFIRMED

    served = stack.pick_up(first_served, courier)
    assert stack.http.post(f"/api/shipments/{served.shipment_id}/delivered", headers=courier).status_code == 202
    stack.wait_for_status(first_served, OrderStatus.DELIVERED)
    assert stack.order(waiting).status is OrderStatus.CONFIRMED  # the courier is not free until the receipt
    customer = "fay" if first_served == first else "gus"
    assert stack.http.post(f"/api/orders/{first_served}/receipt",
                           headers=stack.bearer("customer", customer)).status_code == 202
    assert stack.wait_for_courier(waiting).courier_id == courier_id


def test_two_orders_race_for_the_last_unit(stack: Stack) -> None:
    product = stack.create_product("LAST", stock=1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        order_ids = list(pool.map(lambda customer: stack.place(customer, product), ["hana", "ivan"]))
    outcomes = [stack.wait_for(order_id, lambda order: order.status in (OrderStatus.CONFIRMED, OrderStatus.CANCELLED))
                for order_id in order_ids]
    assert sorted(order.status.value for order in outcomes) == ["CANCELLED", "CONFIRMED"]
    assert [order.cancel_reason for order in outcomes if order.cancel_reason] == [CancelReason.OUT_OF_STOCK]
    stock = stack.read.inventory.get_stock(product)
    assert (stock.on_hand, stock.reserved, stock.available) == (1, 1, 0)
    stack.verify()


def test_a_worker_killed_mid_stream_loses_and_doubles_nothing(stack: Stack) -> None:
    products = [stack.create_product(f"BULK-{index}", stock=100_000, price="1.00") for index in range(3)]
    couriers = dict(stack.register_courier(-6.2 + index / 100, 106.8, name=f"Courier {index}") for index in range(3))
    tokens = ["tok_ok"] * 17 + ["tok_decline"] * 2 + ["tok_timeout"]
    rng = random.Random(7)

    def place(index: int) -> UUID:
        return stack.place(f"crash-{index % 10}", rng.choice(products), rng.randint(1, 3), rng.choice(tokens))

    with ThreadPoolExecutor(max_workers=4) as pool:
        placing = [pool.submit(place, index) for index in range(200)]
        # In the middle of the stream: a quarter of the orders in, and the worker has settled one at least.
        eventually(lambda: sum(future.done() for future in placing) >= 50 and stack.order(placing[0].result())
                   .status is not OrderStatus.PENDING, timeout=60, what="the stream under way")
        stack.restart_worker(kill=True)
        order_ids = [future.result() for future in placing]

    settled = {OrderStatus.CONFIRMED, OrderStatus.IN_TRANSIT, *FINAL}
    for order_id in order_ids:
        stack.wait_for(order_id, lambda order: order.status in settled, limit_s=180)
    # Every order that will not be served by the three couriers waits, confirmed, for one: nothing is stuck pending.
    statuses = [stack.order(order_id).status for order_id in order_ids]
    assert OrderStatus.PENDING not in statuses
    for courier_id, token in couriers.items():  # each courier was given one, and picks it up
        carried = stack.read.shipping.get_courier(courier_id).shipment_id
        assert carried is not None
        stack.pick_up(stack.read.shipping.get_shipment(carried).order_id, {"Authorization": f"Bearer {token}"})
    statuses = [stack.order(order_id).status for order_id in order_ids]
    assert statuses.count(OrderStatus.IN_TRANSIT) == 3

    reserved = events_named(stack, stack.read.inventory, "Stock.Reserved")
    assert len({(event.originator_id, event.order_id) for event in reserved}) == len(reserved)
    authorized = events_named(stack, stack.read.payments, "Payment.Authorized")
    assert len({event.order_id for event in authorized}) == len(authorized)
    confirmed = events_named(stack, stack.read.orders, "Order.Confirmed")
    assert len({event.originator_id for event in confirmed}) == len(confirmed)
    assert len(reserved) == len(order_ids)  # one line each, every one reserved exactly once
    stack.verify()


def test_a_payment_deadline_fires_after_a_worker_restart(database: Database, tmp_path: Path) -> None:
    with running_stack(database, tmp_path, LOGISTICS_PAYMENT_TIMEOUT_S="4") as stack:
        product = stack.create_product("LATE", stock=3)
        order_id = stack.place("jan", product, token="tok_timeout")
        stack.wait_for(order_id, lambda _: _deadline_recorded(database, order_id))
        stack.worker.process.kill()  # the deadline is due in ~4 s and nobody is running to fire it
        stack.worker.process.wait()
        # Restart only once the deadline has passed while nobody was there to fire it.
        stack.wait_for(order_id, lambda _: _deadline_passed(database, order_id, timeout_s=4))
        assert stack.order(order_id).status is OrderStatus.PENDING
        stack.restart_worker(kill=False)
        order = stack.wait_for_status(order_id, OrderStatus.CANCELLED)
        assert order.cancel_reason is CancelReason.PAYMENT_TIMEOUT


def _deadline_passed(database: Database, order_id: UUID, timeout_s: float) -> bool:
    with database.connect() as connection:
        row = connection.execute("SELECT requested_at + %s * interval '1 second' < now() "
                                 "FROM payments.paymentdeadlines_awaiting WHERE order_id = %s",
                                 (timeout_s, order_id)).fetchone()
    return bool(row and row[0])


def _deadline_recorded(database: Database, order_id: UUID) -> bool:
    with database.connect() as connection:
        row = connection.execute("SELECT 1 FROM payments.paymentdeadlines_awaiting WHERE order_id = %s",
                                 (order_id,)).fetchone()
    return row is not None
