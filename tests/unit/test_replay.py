"""The in-memory replay fold: what it keeps, what it leaves out, and that it agrees with one event at a time."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

import pytest

from domain.order import Order
from domain.payment import Payment
from domain.reservation import StockReservation
from domain.shipping import Courier, Shipment
from domain.stock import Stock
from domain.values import DeliveryAddress, GeoPoint, OrderLine
from projections.models.orders import ORDERS
from projections.models.payments import PAYMENTS
from projections.models.shipments import SHIPMENTS
from projections.read_model import Column, Doc, Documents, ReadModel, Rows
from projections.replay import ModelFold, Replay
from tests.unit.test_read_models import fold as fold_one_at_a_time

Log = list[tuple[int, Any]]
CONTEXTS = ("Orders", "Inventory", "Payments", "Shipping")
DESTINATION = DeliveryAddress("Jl. Medan Merdeka, Jakarta", -6.1754, 106.8272)


def delivered_order() -> dict[str, Log]:
    """One order's whole way, as each context's log holds it (positions from 1, in recording order)."""
    stock = Stock.create("wid-1", "Widget", "12.50", 10)
    courier = Courier.register("Budi", -6.1950, 106.8230)
    order = Order.place("customer-1", [OrderLine(stock.id, 2, Decimal("12.50"))], "tok_secret", DESTINATION)
    reservation = StockReservation.reserve(order.id, order.lines, {stock.id: stock})
    payment = Payment(order_id=order.id, amount=order.total, token="tok_secret")
    payment.authorize("auth-1")
    order.record_stock_reserved()
    order.record_payment_authorized()
    shipment = Shipment(order_id=order.id, customer_id="customer-1", destination=DESTINATION)
    shipment.assign(courier)
    shipment.pick_up(GeoPoint(-6.1950, 106.8230))
    order.mark_in_transit(shipment.id, courier.id)
    reservation.commit({stock.id: stock})
    payment.capture()
    for lat, lng in ((-6.19, 106.824), (-6.18, 106.826)):
        shipment.record_checkpoint(GeoPoint(lat, lng), None)
    shipment.deliver()
    courier.release()
    order.mark_delivered()
    order.confirm_receipt()
    by_context = {
        "Orders": list(order.collect_events()),
        "Inventory": [*stock.collect_events(), *reservation.collect_events()],
        "Payments": list(payment.collect_events()),
        "Shipping": [*courier.collect_events(), *shipment.collect_events()],
    }
    # Each log in the order the events were recorded; each aggregate's own order is kept by a stable sort.
    return {name: list(enumerate(sorted(events, key=lambda event: event.timestamp), start=1))
            for name, events in by_context.items()}


def fold(model: ReadModel, logs: dict[str, Log], order: Iterable[str] = CONTEXTS,
         stops: dict[str, int] | None = None) -> ModelFold:
    result = ModelFold(model, stops if stops is not None else
                       {name: len(log) for name, log in logs.items() if name in model.upstreams})
    for name in order:
        for position, event in logs.get(name, []):
            result.apply(event, name, position)
    return result


def one_at_a_time(model: ReadModel, logs: dict[str, Log]) -> dict[UUID, Doc]:
    """What the live path's documents come to: each event reduced against the document before it."""
    events = [event for name in CONTEXTS if name in model.upstreams for _, event in logs[name]]
    return fold_one_at_a_time(model, events)


def test_a_fold_gives_each_document_what_reducing_one_event_at_a_time_gives() -> None:
    logs = delivered_order()

    result = fold(ORDERS, logs)

    assert result.docs == one_at_a_time(ORDERS, logs)
    (doc,) = result.docs.values()
    assert doc["status"] == "RECEIVED"
    assert doc["payment"]["status"] == "CAPTURED"
    assert doc["shipment"]["status"] == "DELIVERED"
    assert result.events == sum(len(log) for log in logs.values())


def test_contexts_may_be_replayed_one_after_another_in_any_order() -> None:
    logs = delivered_order()

    forwards = fold(ORDERS, logs, CONTEXTS)
    backwards = fold(ORDERS, logs, reversed(CONTEXTS))

    assert forwards.docs == backwards.docs
    assert list(forwards.document_records()) == list(backwards.document_records())


def test_document_records_are_what_the_live_path_writes() -> None:
    logs = delivered_order()
    documents = ORDERS.documents
    assert documents is not None

    ((key, doc, updated_at, values),) = fold(ORDERS, logs).document_records()

    assert key == logs["Orders"][0][1].originator_id
    assert updated_at == doc["updated_at"] == max(event.timestamp for log in logs.values()
                                                  for _, event in log).isoformat()
    assert values == tuple(column.value(doc) for column in documents.columns)
    assert values[:2] == ("RECEIVED", "customer-1")


def test_events_after_a_stop_are_left_out_and_the_tracking_is_the_stops() -> None:
    logs = delivered_order()
    placed_only = {"Orders": 1, "Payments": 1}

    result = fold(ORDERS, logs, stops=placed_only)

    (doc,) = result.docs.values()
    assert doc["status"] == "PENDING"
    assert doc["payment"]["status"] == "REQUESTED"
    assert "stock" not in doc
    assert "shipment" not in doc
    assert result.events == 2
    assert result.tracking() == placed_only
    assert result.total() == 2


def test_a_model_folds_only_the_contexts_it_follows() -> None:
    logs = delivered_order()
    with pytest.raises(ValueError, match="payments does not follow Orders"):
        ModelFold(PAYMENTS, {"Orders": 3})

    result = fold(PAYMENTS, logs)

    assert result.events == len(logs["Payments"])
    assert [doc["status"] for doc in result.docs.values()] == ["CAPTURED"]


def test_shipment_track_rows_carry_their_positions() -> None:
    logs = delivered_order()

    result = fold(SHIPMENTS, logs)

    assert [(row[1], row[3], row[4]) for row in result.rows] == [
        (2, -6.1950, 106.8230), (3, -6.1950, 106.8230), (4, -6.19, 106.824), (5, -6.18, 106.826)]


# Synthetic models, for what the real ones never do.


@dataclass(frozen=True)
class Happened:
    originator_id: UUID
    originator_version: int
    timestamp: datetime
    value: Any = None


T0 = datetime(2026, 1, 1, tzinfo=UTC)
THING = uuid5(UUID(int=0), "thing")


def happened(version: int, value: Any = None, thing: UUID = THING) -> Happened:
    return Happened(thing, version, T0 + timedelta(seconds=version), value)


def test_rows_that_collide_keep_the_first_and_rows_with_nulls_never_collide() -> None:
    model = ReadModel("notes", frozenset({"Orders"}), rows=Rows(
        table="notes", columns=(("key", "text"), ("value", "text")), unique=("key",),
        rows=lambda event, position: [(event.value, str(position))]))
    result = ModelFold(model, {"Orders": 5})

    for position, key in enumerate(["a", "b", "a", None, None], start=1):
        result.apply(happened(position, key), "Orders", position)

    assert result.rows == [("a", "1"), ("b", "2"), (None, "4"), (None, "5")]


def plain_reduce(doc: Doc | None, event: Any) -> Doc | None:
    """Keeps no `updated_at` of its own, and forgets the thing on `None`."""
    if event.value is None:
        return None
    return {"value": event.value}


PLAIN = ReadModel("plain", frozenset({"Orders"}), documents=Documents(
    key=lambda event: event.originator_id, reduce=plain_reduce,
    columns=(Column("value", "text", lambda doc: doc.get("value")),)))


def test_without_its_own_updated_at_a_document_is_stamped_by_the_last_event_that_changed_it() -> None:
    result = ModelFold(PLAIN, {"Orders": 3})

    for position, value in enumerate(["x", "y", "y"], start=1):
        result.apply(happened(position, value), "Orders", position)

    # The third event changed nothing, so, as on the live path (which then writes nothing), the second stands.
    assert list(result.document_records()) == [(THING, {"value": "y"}, happened(2).timestamp.isoformat(), ("y",))]


def test_a_document_reduced_to_nothing_is_gone() -> None:
    result = ModelFold(PLAIN, {"Orders": 2})

    result.apply(happened(1, "x"), "Orders", 1)
    result.apply(happened(2, None), "Orders", 2)

    assert result.docs == {}
    assert list(result.document_records()) == []


class Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def begin(self, model: str, phase: str, total: int) -> None:
        self.calls.append(("begin", f"{model} {phase}", total))

    def advance(self, model: str, events: int) -> None:
        self.calls.append(("advance", model, events))


def test_one_reading_feeds_every_model_up_to_its_own_stop_and_reports_each() -> None:
    logs = delivered_order()
    orders = ModelFold(ORDERS, {name: len(log) for name, log in logs.items()})
    payments = ModelFold(PAYMENTS, {"Payments": 1})
    progress = Recorded()
    replay = Replay([orders, payments], progress)

    replay.begin("in place")
    for name in CONTEXTS:
        assert replay.stop(name) == len(logs[name])
        replay.feed(name, logs[name])

    assert orders.docs == fold(ORDERS, logs).docs
    assert [doc["status"] for doc in payments.docs.values()] == ["REQUESTED"]
    assert progress.calls == [
        ("begin", "orders in place", orders.total()),
        ("begin", "payments in place", 1),
        ("advance", "orders", len(logs["Orders"])),
        ("advance", "orders", len(logs["Inventory"])),
        ("advance", "orders", len(logs["Payments"])),
        ("advance", "payments", 1),
        ("advance", "orders", len(logs["Shipping"])),
    ]
    assert Replay([payments]).stop("Orders") is None
