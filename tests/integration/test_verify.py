"""`logistics verify` on the real PostgreSQL: what the saga's own decisions wrote holds, a forged fact does not."""

from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.database import Database
from adapters.settings import Settings
from composition.migration import migrate
from composition.write_side import WriteSide, build_write_side
from domain.identity import Actor, Role
from domain.invariants import CONFIRMED_BACKED, NOTHING_STUCK
from domain.order import Order, OrderStatus
from domain.shipping import ShipmentStatus
from domain.values import DeliveryAddress, OrderLine
from scripts.cli import main

HOME = DeliveryAddress("Jl. Jaksa 5", -6.186, 106.83)


@pytest.fixture
def write(database: Database, settings: Settings, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteSide]:
    monkeypatch.setenv("LOGISTICS_DATABASE_URL", database.url)
    monkeypatch.setenv("LOGISTICS_SECRET", "test-secret-that-is-long-enough-for-hs256-signing")
    monkeypatch.setenv("LOGISTICS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOGISTICS_ENV_FILE", str(tmp_path / "no.env"))
    migrate(database)
    with ExitStack() as stack:
        yield build_write_side(database, settings, stack)


def verify(capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", *options])
    return code, capsys.readouterr().out


def received_order(write: WriteSide, line: OrderLine) -> Order:
    """An order taken all the way by the saga's decisions, each saved the way its policy saves it."""
    order, _ = write.orders.place_order("alice", [line], "tok_ok", HOME)
    write.inventory.save(*write.inventory.reserve_for(order.id, order.lines))
    write.payments.save(*write.payments.request_payment(order.id, order.total, order.payment_token))
    order.record_stock_reserved()
    order.record_payment_authorized()
    write.orders.save(order)
    write.shipping.save(*write.shipping.ship_order(order.id, order.customer_id, order.delivery))
    shipment = write.shipping.find_shipment_for(order.id)
    assert shipment is not None
    assert shipment.courier_id is not None
    carrier = Actor(Role.COURIER, str(shipment.courier_id))
    write.shipping.pick_up(carrier, shipment.id)
    order.mark_in_transit(shipment.id, shipment.courier_id)
    write.orders.save(order)
    write.inventory.save(*write.inventory.commit_for(order.id))
    write.payments.save(*write.payments.capture_for(order.id))
    write.shipping.mark_delivered(carrier, shipment.id)
    order.mark_delivered()
    order.confirm_receipt()
    write.orders.save(order)
    write.shipping.save(*write.shipping.finish_shipment(order.id))
    return order


def cancelled_order(write: WriteSide, line: OrderLine) -> Order:
    order, _ = write.orders.place_order("bob", [line], "tok_ok", HOME)
    write.inventory.save(*write.inventory.reserve_for(order.id, order.lines))
    write.payments.save(*write.payments.request_payment(order.id, order.total, order.payment_token))
    order.cancel()
    write.orders.save(order)
    write.inventory.save(*write.inventory.release_for(order.id))
    write.payments.save(*write.payments.void_for(order.id))
    return order


def test_a_healthy_history_holds_and_a_forged_confirmation_does_not(
    write: WriteSide, capsys: pytest.CaptureFixture[str],
) -> None:
    stock, _ = write.inventory.create_product("KOPI", "Kopi", Decimal("4.50"), 10)
    write.inventory.restock(stock.id, 5, "delivery")
    write.shipping.register_courier("Budi", -6.19, 106.82)
    line = OrderLine(stock.id, 2, stock.price)
    received = received_order(write, line)
    cancelled = cancelled_order(write, line)
    assert write.orders.get_order(received.id).status is OrderStatus.RECEIVED
    assert write.orders.get_order(cancelled.id).status is OrderStatus.CANCELLED
    assert write.inventory.get_stock(stock.id).on_hand == 13

    code, out = verify(capsys)

    assert code == 0, out
    assert "all 9 invariants hold" in out
    assert "✗" not in out

    # The orders context records a confirmation that neither inventory nor payments ever backed.
    forged, _ = write.orders.place_order("mallory", [line], "tok_ok", HOME)
    forged.record_stock_reserved()
    forged.record_payment_authorized()
    write.orders.save(forged)

    code, out = verify(capsys)

    assert code == 1
    assert f"✗ {CONFIRMED_BACKED}: 3 breaches" in out
    assert f"order {forged.id} (CONFIRMED): 0 Payment.Authorized" in out
    assert "1 of 9 invariants breached" in out


def test_stuck_orders_are_judged_by_the_deadline_option(write: WriteSide, capsys: pytest.CaptureFixture[str]) -> None:
    stock, _ = write.inventory.create_product("TEH", "Teh", Decimal("3.00"), 5)
    line = OrderLine(stock.id, 1, stock.price)
    pending, _ = write.orders.place_order("alice", [line], "tok_ok", HOME)
    waiting, _ = write.orders.place_order("bob", [line], "tok_ok", HOME)
    write.inventory.save(*write.inventory.reserve_for(waiting.id, waiting.lines))
    write.payments.save(*write.payments.request_payment(waiting.id, waiting.total, waiting.payment_token))
    waiting.record_stock_reserved()
    waiting.record_payment_authorized()
    write.orders.save(waiting)
    write.shipping.save(*write.shipping.ship_order(waiting.id, waiting.customer_id, waiting.delivery))  # no courier

    assert verify(capsys)[0] == 0

    code, out = verify(capsys, "--stuck-after-s", "0")

    assert code == 1
    assert f"✗ {NOTHING_STUCK}: 1 breach" in out
    assert f"order {pending.id} (PENDING" in out
    assert f"i {NOTHING_STUCK}: 1 note" in out
    assert f"order {waiting.id} (CONFIRMED" in out


def confirmed_order(write: WriteSide, line: OrderLine) -> Order:
    """Placed, reserved, paid and confirmed, and shipped: assigned to a free courier, or waiting for one."""
    order, _ = write.orders.place_order("carol", [line], "tok_ok", HOME)
    write.inventory.save(*write.inventory.reserve_for(order.id, order.lines))
    write.payments.save(*write.payments.request_payment(order.id, order.total, order.payment_token))
    order.record_stock_reserved()
    order.record_payment_authorized()
    write.orders.save(order)
    write.shipping.save(*write.shipping.ship_order(order.id, order.customer_id, order.delivery))
    return order


def test_shifts_and_pick_ups_are_judged_as_the_saga_moves_them(
    write: WriteSide, capsys: pytest.CaptureFixture[str],
) -> None:
    """An off-duty courier is not free for a waiting shipment; an assigned one is a courier on its way (a note);
    the order goes in transit at the pick-up, and is stuck if it does not."""
    stock, _ = write.inventory.create_product("ROTI", "Roti", Decimal("2.00"), 5)
    admin = Actor(Role.ADMIN, "operator")
    courier, _ = write.shipping.register_courier("Budi", -6.19, 106.82)
    write.shipping.set_shift(admin, courier.id, on_duty=False)
    order = confirmed_order(write, OrderLine(stock.id, 1, stock.price))
    shipment = write.shipping.find_shipment_for(order.id)
    assert shipment is not None
    assert shipment.status is ShipmentStatus.WAITING_FOR_COURIER

    code, out = verify(capsys, "--stuck-after-s", "0")

    assert code == 0, out
    assert f"order {order.id} (CONFIRMED" in out
    assert "waits for a free courier" in out

    write.shipping.set_shift(admin, courier.id, on_duty=True)  # and takes the waiting shipment
    assert write.shipping.get_shipment(shipment.id).status is ShipmentStatus.ASSIGNED

    code, out = verify(capsys)

    assert code == 0, out
    assert "on its way to pick it up" in out
    code, out = verify(capsys, "--stuck-after-s", "0")
    assert code == 0, out  # however long the way to the pick-up: the courier watch handles a silent courier
    assert f"shipment {shipment.id} has had courier {courier.id}" in out

    write.shipping.pick_up(Actor(Role.COURIER, str(courier.id)), shipment.id)
    code, out = verify(capsys, "--stuck-after-s", "0")
    assert code == 1
    assert f"shipment {shipment.id} was picked up" in out

    order = write.orders.get_order(order.id)
    order.mark_in_transit(shipment.id, courier.id)  # what the saga does on the pick-up
    write.orders.save(order)

    code, out = verify(capsys)

    assert code == 0, out
    assert str(order.id) not in out  # in transit for less than the deadline: not even a note


def test_an_event_store_that_was_never_set_up_cannot_be_verified(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOGISTICS_DATABASE_URL", database.url)
    monkeypatch.setenv("LOGISTICS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOGISTICS_ENV_FILE", str(tmp_path / "no.env"))

    code, out = verify(capsys)

    assert code == 2
    assert "cannot read the event store" in out
