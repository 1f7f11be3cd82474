"""Read models as pure functions: given the events real domain commands record, then these documents and rows.

Events come from running the aggregates' own commands, never from hand-made event objects, so a renamed event
or attribute breaks these tests instead of silently emptying a read model.
"""

import itertools
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper

from adapters.event_codec import stored_event_mapper
from domain.base import message_context
from domain.order import Order
from domain.payment import Payment
from domain.reservation import StockReservation
from domain.shipping import Courier, OffDutyReason, Shipment
from domain.stock import Stock
from domain.values import DeliveryAddress, GeoPoint, OrderLine
from projections.event_data import context_of, event_id, event_name
from projections.messages import domain_event_message, routing_key, view_message
from projections.models import ALL_MODELS
from projections.models.audit import audit_rows
from projections.models.couriers import COURIERS
from projections.models.orders import DELIVERY_PROMISE_MIN, ORDERS
from projections.models.payments import PAYMENTS
from projections.models.products import PRODUCTS
from projections.models.shipments import SHIPMENTS
from projections.read_model import Doc, ReadModel

ORDER_ID = uuid5(UUID(int=0), "order-1")
OTHER_ORDER_ID = uuid5(UUID(int=0), "order-2")
TOKEN = "tok_secret_4242424242424242"
CORRELATION = "request-7f3a"
MONAS = DeliveryAddress("Jl. Medan Merdeka, Jakarta", -6.1754, 106.8272)
BUNDARAN_HI = (-6.1950, 106.8230)
ON_THE_WAY = [(-6.1900, 106.8240), (-6.1800, 106.8260)]
ETAS = ["2026-01-01T09:40:00+00:00", None]
AFTER_DELIVERY = (-6.1760, 106.8270)

DOCUMENT_MODELS = [ORDERS, PRODUCTS, PAYMENTS, SHIPMENTS, COURIERS]


# Folding events the way the projection runner does, without the database.


def fold(model: ReadModel, events: Iterable[Any], docs: dict[UUID, Doc] | None = None) -> dict[UUID, Doc]:
    """Each entity's document after these events, starting from `docs` (nothing, by default)."""
    documents = model.documents
    assert documents is not None, f"{model.name} keeps no documents"
    result = dict(docs or {})
    for event in events:
        key = documents.key(event)
        if key is None:
            continue
        doc = documents.reduce(result.get(key), event)
        if doc is None:
            result.pop(key, None)
        else:
            result[key] = doc
    return result


def only_doc(model: ReadModel, events: Iterable[Any]) -> Doc:
    docs = fold(model, events)
    assert len(docs) == 1, f"expected one {model.name} document, got {len(docs)}"
    return next(iter(docs.values()))


def track(events: Iterable[Any]) -> list[tuple[Any, ...]]:
    rows = SHIPMENTS.rows
    assert rows is not None
    return [row for position, event in enumerate(events, start=1) for row in rows.rows(event, position)]


def at(event: Any) -> str:
    return str(event.timestamp.isoformat())


def named(events: Iterable[Any], name: str) -> list[Any]:
    return [event for event in events if event_name(event) == name]


def first(events: Iterable[Any], name: str) -> Any:
    found = named(events, name)
    assert found, f"no {name} among the events"
    return found[0]


def is_plain_json(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(is_plain_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_plain_json(item) for key, item in value.items())
    return False


# One order's whole way, from placing to receipt, recorded in the order the system would record it.


@dataclass
class Story:
    stock: Stock
    courier: Courier
    order: Order
    reservation: StockReservation
    payment: Payment
    shipment: Shipment
    events: list[Any]
    """Every event, in the order the contexts' logs would hold them."""

    def of_context(self, context: str) -> list[Any]:
        return [event for event in self.events if context_of(event) == context]

    def by_context(self) -> dict[str, list[Any]]:
        return {context: self.of_context(context) for context in ("orders", "inventory", "payments", "shipping")}


def delivered_order() -> Story:
    events: list[Any] = []

    def record(*aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            events.extend(aggregate.collect_events())

    stock = Stock.create("wid-1", "Widget", "12.50", 10)
    courier = Courier.register("Budi", *BUNDARAN_HI)
    record(stock, courier)
    with message_context(CORRELATION, None):
        order = Order.place("customer-1", [OrderLine(stock.id, 2, Decimal("12.50"))], TOKEN, MONAS, ORDER_ID)
        record(order)
    with message_context(CORRELATION, "order-placed"):
        reservation = StockReservation.reserve(order.id, order.lines, {stock.id: stock})
        record(reservation, stock)
        payment = Payment(order_id=order.id, amount=order.total, token=TOKEN)
        record(payment)
    with message_context(CORRELATION, "payment-answered"):
        payment.authorize("auth-0042")
        record(payment)
        order.record_stock_reserved()
        order.record_payment_authorized()
        record(order)
    with message_context(CORRELATION, "order-confirmed"):
        shipment = Shipment(order_id=order.id, customer_id="customer-1", destination=MONAS)
        shipment.assign(courier)
        record(shipment, courier)
    with message_context(CORRELATION, "picked-up"):
        shipment.pick_up(GeoPoint(*BUNDARAN_HI))
        record(shipment)
        order.mark_in_transit(shipment.id, courier.id)
        record(order)
        reservation.commit({stock.id: stock})
        record(reservation, stock)
        payment.capture()
        record(payment)
    stock.restock(5, "supplier delivery")
    record(stock)
    for (lat, lng), eta in zip(ON_THE_WAY, ETAS, strict=True):
        shipment.record_checkpoint(GeoPoint(lat, lng), eta)
        record(shipment)
    shipment.deliver()
    courier.release()
    record(shipment, courier)
    # Free again, the courier's own checkpoints are its position (dispatching goes by it).
    courier.move_to(*AFTER_DELIVERY)
    record(courier)
    order.mark_delivered()
    order.confirm_receipt()
    record(order)
    return Story(stock, courier, order, reservation, payment, shipment, events)


@pytest.fixture(scope="module")
def story() -> Story:
    return delivered_order()


# Products


def stock_events() -> tuple[Stock, list[Any]]:
    stock = Stock.create("wid-1", "Widget", "12.50", 10)
    stock.reserve(ORDER_ID, 2)
    stock.reserve(OTHER_ORDER_ID, 3)
    stock.commit(ORDER_ID)
    stock.release(OTHER_ORDER_ID)
    stock.restock(5, "supplier delivery")
    stock.update(name="Widget Pro", price="14.00")
    stock.reject_reservation(OTHER_ORDER_ID, 100)
    stock.discontinue()
    return stock, list(stock.collect_events())


def test_a_product_document_follows_its_stock() -> None:
    stock, events = stock_events()

    doc = only_doc(PRODUCTS, events)

    assert doc == {
        "id": str(stock.id),
        "sku": "WID-1",
        "name": "Widget Pro",
        "price": "14.00",
        "initial_stock": 10,
        "on_hand": 13,
        "reserved": 0,
        "available": 13,
        "discontinued": True,
        "created_at": at(events[0]),
        "updated_at": at(events[-1]),
        "version": 9,
    }


def test_product_quantities_match_the_aggregate_after_every_event() -> None:
    _, events = stock_events()
    doc: Doc | None = None
    for count, event in enumerate(events, start=1):
        doc = PRODUCTS.documents.reduce(doc, event) if PRODUCTS.documents else None
        stock = project_aggregate(None, events[:count])
        assert isinstance(stock, Stock)
        assert doc is not None
        assert (doc["on_hand"], doc["reserved"], doc["available"]) == (stock.on_hand, stock.reserved, stock.available)
        assert (doc["name"], doc["price"], doc["discontinued"]) == (stock.name, str(stock.price), stock.discontinued)


def test_holding_units_for_two_orders_lowers_what_is_available() -> None:
    _, events = stock_events()

    doc = only_doc(PRODUCTS, events[:3])

    assert (doc["on_hand"], doc["reserved"], doc["available"]) == (10, 5, 5)
    assert doc["discontinued"] is False


def test_products_ignore_reservations_and_columns_read_the_document(story: Story) -> None:
    assert PRODUCTS.documents is not None
    reservation_events = [event for event in story.events if event_name(event).startswith("StockReservation.")]
    assert reservation_events
    assert all(PRODUCTS.documents.key(event) is None for event in reservation_events)

    doc = only_doc(PRODUCTS, story.of_context("inventory"))

    assert (doc["on_hand"], doc["reserved"], doc["available"]) == (13, 0, 13)
    assert [(column.name, column.sql_type, column.value(doc)) for column in PRODUCTS.documents.columns] == [
        ("sku", "text", "WID-1"), ("discontinued", "boolean", False), ("name", "text", "Widget"),
    ]


# Payments


def requested_payment() -> Payment:
    with message_context(CORRELATION, None):
        return Payment(order_id=ORDER_ID, amount=Decimal("25.00"), token=TOKEN)


def test_a_captured_then_refunded_payment_keeps_its_history() -> None:
    payment = requested_payment()
    payment.authorize("auth-0042")
    payment.capture()
    payment.refund()
    events = list(payment.collect_events())

    doc = only_doc(PAYMENTS, events)

    assert doc == {
        "id": str(payment.id),
        "order_id": str(ORDER_ID),
        "amount": "25.00",
        "status": "REFUNDED",
        "authorization_id": "auth-0042",
        "decline_reason": None,
        "history": [
            {"status": "REQUESTED", "at": at(events[0])},
            {"status": "AUTHORIZED", "at": at(events[1])},
            {"status": "CAPTURED", "at": at(events[2])},
            {"status": "REFUNDED", "at": at(events[3])},
        ],
        "updated_at": at(events[3]),
        "version": 4,
    }


@pytest.mark.parametrize(("commands", "statuses", "decline_reason"), [
    ([lambda p: p.decline("insufficient funds")], ["REQUESTED", "DECLINED"], "insufficient funds"),
    ([Payment.time_out], ["REQUESTED", "TIMED_OUT"], None),
    ([Payment.void], ["REQUESTED", "VOIDED"], None),
    ([lambda p: p.authorize("auth-1"), Payment.void], ["REQUESTED", "AUTHORIZED", "VOIDED"], None),
])
def test_each_way_a_payment_can_end(commands: Sequence[Any], statuses: list[str], decline_reason: str | None) -> None:
    payment = requested_payment()
    for command in commands:
        command(payment)

    doc = only_doc(PAYMENTS, payment.collect_events())

    assert doc["status"] == statuses[-1] == payment.status.value
    assert [entry["status"] for entry in doc["history"]] == statuses
    assert doc["decline_reason"] == decline_reason


def test_payment_columns_and_other_contexts(story: Story) -> None:
    assert PAYMENTS.documents is not None
    assert all(PAYMENTS.documents.key(event) is None for event in story.events if context_of(event) != "payments")

    doc = only_doc(PAYMENTS, story.events)

    assert doc["status"] == "CAPTURED"
    assert [(column.name, column.sql_type, column.value(doc)) for column in PAYMENTS.documents.columns] == [
        ("order_id", "uuid", ORDER_ID), ("status", "text", "CAPTURED"),
    ]


# Shipments and their track


def test_a_delivered_shipment_document(story: Story) -> None:
    shipping = story.of_context("shipping")
    created, assigned, picked_up = (first(shipping, name) for name in (
        "Shipment.Created", "Shipment.CourierAssigned", "Shipment.PickedUp"))
    checkpoints = named(shipping, "Shipment.RouteCheckpoint")
    delivered = first(shipping, "Shipment.Delivered")

    doc = only_doc(SHIPMENTS, shipping)

    assert doc == {
        "id": str(story.shipment.id),
        "order_id": str(ORDER_ID),
        "customer_id": "customer-1",
        "destination": {"address": MONAS.address, "lat": MONAS.lat, "lng": MONAS.lng},
        "status": "DELIVERED",
        "courier_id": str(story.courier.id),
        "position": {"lat": ON_THE_WAY[-1][0], "lng": ON_THE_WAY[-1][1], "at": at(checkpoints[-1])},
        "created_at": at(created),
        "assigned_at": at(assigned),
        "picked_up_at": at(picked_up),
        "delivered_at": at(delivered),
        "eta": None,
        "track_points": 4,
        "updated_at": at(delivered),
        "version": 6,
    }


def test_an_assigned_shipment_then_picked_up_then_on_its_way_with_an_eta(story: Story) -> None:
    shipping = story.of_context("shipping")
    assigned_at = named(shipping, "Shipment.CourierAssigned")[-1]
    upto = shipping.index(assigned_at) + 1

    assigned = only_doc(SHIPMENTS, shipping[:upto])
    picked_up = only_doc(SHIPMENTS, shipping[:shipping.index(first(shipping, "Shipment.PickedUp")) + 1])
    on_the_way = only_doc(SHIPMENTS, shipping[:shipping.index(named(shipping, "Shipment.RouteCheckpoint")[0]) + 1])

    assert (assigned["status"], assigned["courier_id"], assigned["picked_up_at"]) == (
        "ASSIGNED", str(story.courier.id), None)
    assert (picked_up["status"], picked_up["picked_up_at"]) == ("IN_TRANSIT", at(first(shipping, "Shipment.PickedUp")))
    assert (on_the_way["eta"], on_the_way["position"]["lat"], on_the_way["track_points"]) == (
        ETAS[0], ON_THE_WAY[0][0], 3)


def test_a_shipment_waiting_for_a_courier_then_cancelled() -> None:
    shipment = Shipment(order_id=ORDER_ID, customer_id="customer-1", destination=MONAS)
    waiting = list(shipment.collect_events())
    assert SHIPMENTS.documents is not None

    doc = only_doc(SHIPMENTS, waiting)

    assert (doc["status"], doc["courier_id"], doc["position"], doc["track_points"]) == (
        "WAITING_FOR_COURIER", None, None, 0)
    assert [(column.name, column.value(doc)) for column in SHIPMENTS.documents.columns] == [
        ("order_id", ORDER_ID), ("courier_id", None), ("status", "WAITING_FOR_COURIER"),
        ("customer_id", "customer-1"),
    ]

    shipment.cancel()
    cancelled = only_doc(SHIPMENTS, [*waiting, *shipment.collect_events()])

    assert cancelled["status"] == "CANCELLED"
    assert (cancelled["assigned_at"], cancelled["delivered_at"]) == (None, None)


def test_the_track_has_the_start_and_every_position_and_nothing_else(story: Story) -> None:
    shipping = story.of_context("shipping")
    assigned = first(shipping, "Shipment.CourierAssigned")
    picked_up = first(shipping, "Shipment.PickedUp")
    checkpoints = named(shipping, "Shipment.RouteCheckpoint")
    shipment_id = story.shipment.id

    assert track(shipping) == [
        (shipment_id, 2, assigned.timestamp, *BUNDARAN_HI),
        (shipment_id, 3, picked_up.timestamp, *BUNDARAN_HI),
        (shipment_id, 4, checkpoints[0].timestamp, *ON_THE_WAY[0]),
        (shipment_id, 5, checkpoints[1].timestamp, *ON_THE_WAY[1]),
    ]
    # A courier's own moves are not the shipment's track, even though they carry positions too.
    assert track(named(shipping, "Courier.LocationUpdated")) == []


def test_the_track_table_shape() -> None:
    rows = SHIPMENTS.rows
    assert rows is not None
    assert rows.table == "track"
    assert list(rows.columns) == [("shipment_id", "uuid"), ("version", "integer"), ("at", "timestamptz"),
                                  ("lat", "double precision"), ("lng", "double precision")]
    assert tuple(rows.unique) == ("shipment_id", "version")
    assert [tuple(index) for index in rows.indexes] == [("shipment_id", "at")]


def test_shipments_ignore_couriers(story: Story) -> None:
    assert SHIPMENTS.documents is not None
    courier_events = [event for event in story.events if event_name(event).startswith("Courier.")]
    assert courier_events
    assert all(SHIPMENTS.documents.key(event) is None for event in courier_events)


# Couriers


def test_a_courier_document_follows_the_courier(story: Story) -> None:
    courier_events = [event for event in story.events if event_name(event).startswith("Courier.")]
    moves = named(courier_events, "Courier.LocationUpdated")

    busy = only_doc(COURIERS, courier_events[:2])
    doc = only_doc(COURIERS, story.of_context("shipping"))

    assert (busy["status"], busy["shipment_id"], busy["on_duty"]) == ("BUSY", str(story.shipment.id), True)
    assert busy["position"] == {"lat": BUNDARAN_HI[0], "lng": BUNDARAN_HI[1], "at": at(courier_events[0])}
    assert doc == {
        "id": str(story.courier.id),
        "name": "Budi",
        "status": "AVAILABLE",
        "shipment_id": None,
        "on_duty": True,
        "off_duty_reason": None,
        "position": {"lat": AFTER_DELIVERY[0], "lng": AFTER_DELIVERY[1], "at": at(moves[-1])},
        "registered_at": at(courier_events[0]),
        "updated_at": at(courier_events[-1]),
        "version": len(courier_events),
    }
    assert COURIERS.documents is not None
    assert [(column.name, column.value(doc)) for column in COURIERS.documents.columns] == [
        ("status", "AVAILABLE"), ("name", "Budi"),
    ]


def test_couriers_ignore_shipments(story: Story) -> None:
    assert COURIERS.documents is not None
    shipment_events = [event for event in story.events if event_name(event).startswith("Shipment.")]
    assert shipment_events
    assert all(COURIERS.documents.key(event) is None for event in shipment_events)


# Properties every document model has


@pytest.mark.parametrize("model", DOCUMENT_MODELS, ids=lambda model: model.name)
def test_documents_are_plain_json(model: ReadModel, story: Story) -> None:
    docs = fold(model, story.events)

    assert docs
    for doc in docs.values():
        assert is_plain_json(doc), doc
        assert json.loads(json.dumps(doc)) == doc


@pytest.mark.parametrize("model", DOCUMENT_MODELS, ids=lambda model: model.name)
def test_a_redelivered_event_changes_nothing(model: ReadModel, story: Story) -> None:
    twice = [event for event in story.events for _ in range(2)]

    assert fold(model, twice) == fold(model, story.events)


@pytest.mark.parametrize("model", DOCUMENT_MODELS, ids=lambda model: model.name)
def test_reducers_do_not_change_the_document_they_are_given(model: ReadModel, story: Story) -> None:
    assert model.documents is not None
    docs: dict[UUID, Doc] = {}
    for event in story.events:
        key = model.documents.key(event)
        if key is None:
            continue
        before = deepcopy(docs.get(key))
        after = model.documents.reduce(docs.get(key), event)
        assert docs.get(key) == before, f"{event_name(event)} changed the document in place"
        assert after is not None
        docs[key] = after


@pytest.mark.parametrize("written_as", ["typed", "tagged"])
@pytest.mark.parametrize("model", [*DOCUMENT_MODELS, SHIPMENTS], ids=lambda model: model.name)
def test_events_read_back_from_the_store_give_the_same_documents_and_rows(model: ReadModel, story: Story,
                                                                         written_as: str) -> None:
    stored = list(through_the_store(story.events, legacy_writer=written_as == "tagged"))

    if model.documents is not None:
        assert fold(model, stored) == fold(model, story.events)
    if model.rows is not None:
        assert track(stored) == track(story.events)


def through_the_store(events: Iterable[Any], *, legacy_writer: bool = False) -> Iterator[Any]:
    """The events as a projection reads them: encoded as the context applications store them (today, or before
    the typed codec when `legacy_writer`), and decoded by the applications' mapper."""
    mapper = stored_event_mapper()
    writer: Mapper[UUID] = Mapper(transcoder=mapper.transcoder) if legacy_writer else mapper
    for event in events:
        yield mapper.to_domain_event(writer.to_stored_event(event))


def test_the_registry_holds_every_model() -> None:
    assert {name: (model.upstreams, model.documents.kind if model.documents else None)
            for name, model in ALL_MODELS.items()} == {
        "orders": (frozenset({"Orders", "Inventory", "Payments", "Shipping"}), "order"),
        "products": (frozenset({"Inventory"}), "product"),
        "payments": (frozenset({"Payments"}), "payment"),
        "shipments": (frozenset({"Shipping"}), "shipment"),
        "couriers": (frozenset({"Shipping"}), "courier"),
        "audit": (frozenset({"Orders", "Inventory", "Payments", "Shipping"}), None),
    }


# The orders model: one document from four contexts, whichever context's runner gets there first


def interleave(streams: Sequence[Sequence[Any]], picks: Iterable[int]) -> list[Any]:
    """Merge the streams, taking the next event of stream `pick` each time: each stream keeps its own order."""
    cursors = [0] * len(streams)
    merged: list[Any] = []
    for pick in picks:
        if cursors[pick] < len(streams[pick]):
            merged.append(streams[pick][cursors[pick]])
            cursors[pick] += 1
    for stream, cursor in zip(streams, cursors, strict=True):
        merged.extend(stream[cursor:])
    return merged


def random_picks(streams: Sequence[Sequence[Any]], seed: int) -> list[int]:
    rng = random.Random(seed)
    picks = [index for index, stream in enumerate(streams) for _ in stream]
    rng.shuffle(picks)
    return picks


def keeps_each_context_in_order(merged: Sequence[Any], streams: Sequence[Sequence[Any]]) -> bool:
    return all([event for event in merged if any(event is own for own in stream)] == list(stream)
               for stream in streams)


def test_an_order_document_gathers_all_four_contexts(story: Story) -> None:
    doc = fold(ORDERS, story.events)[ORDER_ID]

    assert doc["status"] == "RECEIVED"
    assert doc["customer_id"] == "customer-1"
    assert doc["total"] == "25.00"
    assert doc["items"] == [{"product_id": str(story.stock.id), "quantity": 2, "unit_price": "12.50"}]
    assert doc["stock"] == {"reservation_id": str(story.reservation.id), "status": "COMMITTED"}
    assert doc["payment"] == {"payment_id": str(story.payment.id), "status": "CAPTURED", "version": 3,
                              "amount": "25.00"}
    assert doc["shipment"]["status"] == "DELIVERED"
    assert doc["shipment"]["courier_id"] == str(story.courier.id)
    assert doc["shipment"]["delivered_at"] == at(first(story.events, "Shipment.Delivered"))
    assert doc["updated_at"] == at(story.events[-1])
    assert doc["promised_by"] == (first(story.events, "Order.Confirmed").timestamp
                                  + timedelta(minutes=DELIVERY_PROMISE_MIN)).isoformat()
    # Stock and courier events carry no order of their own here, and positions stay out of the timeline.
    timeline = [entry["event"] for entry in doc["timeline"]]
    assert not [name for name in timeline if name.startswith(("Stock.", "Courier."))]
    assert "Shipment.RouteCheckpoint" not in timeline
    assert [name for name in timeline if name.startswith("Shipment.")] == [
        "Shipment.Created", "Shipment.CourierAssigned", "Shipment.PickedUp", "Shipment.Delivered"]
    assert len(timeline) == len({entry["event_id"] for entry in doc["timeline"]})


def reassigned_shipment() -> tuple[Shipment, Courier, Courier, list[Any]]:
    """A shipment assigned to a courier whose shift ends before the pick-up, then to another courier."""
    leaving, taking_over = Courier.register("Budi", *BUNDARAN_HI), Courier.register("Ani", *ON_THE_WAY[0])
    shipment = Shipment(order_id=ORDER_ID, customer_id="customer-1", destination=MONAS)
    shipment.assign(leaving)
    shipment.record_checkpoint(GeoPoint(*ON_THE_WAY[1]), ETAS[0])
    shipment.unassign(leaving, OffDutyReason.SHIFT_ENDED)
    leaving.go_off_duty(OffDutyReason.SHIFT_ENDED)
    shipment.assign(taking_over)
    events = [*shipment.collect_events(), *leaving.collect_events(), *taking_over.collect_events()]
    return shipment, leaving, taking_over, sorted(events, key=lambda event: event.timestamp)


def test_a_reassignment_is_told_in_the_timeline_and_the_new_courier_takes_the_shipment_part() -> None:
    shipment, _, taking_over, events = reassigned_shipment()
    unassigned = first(events, "Shipment.CourierUnassigned")

    doc = fold(ORDERS, events)[ORDER_ID]

    assert doc["shipment"] == {
        "shipment_id": str(shipment.id),
        "status": "ASSIGNED",
        "courier_id": str(taking_over.id),
        "assigned_at": at(named(events, "Shipment.CourierAssigned")[-1]),
        "assigned_version": 5,
        "eta": None,
        "position": {"lat": ON_THE_WAY[0][0], "lng": ON_THE_WAY[0][1],
                     "at": at(named(events, "Shipment.CourierAssigned")[-1])},
    }
    entries = [entry for entry in doc["timeline"] if entry["event"] != "Shipment.Created"]
    assert [(entry["event"], entry.get("note")) for entry in entries] == [
        ("Shipment.CourierAssigned", None),
        ("Shipment.CourierUnassigned", "reassigned: the courier's shift ended"),
        ("Shipment.CourierAssigned", None),
    ]
    assert entries[1]["reason"] == "shift_ended"
    assert entries[1]["at"] == at(unassigned)


def test_a_reassigned_shipment_document_remembers_who_let_it_go() -> None:
    _, leaving, taking_over, events = reassigned_shipment()
    unassigned = first(events, "Shipment.CourierUnassigned")

    doc = only_doc(SHIPMENTS, events)

    assert (doc["status"], doc["courier_id"], doc["eta"], doc["track_points"]) == (
        "ASSIGNED", str(taking_over.id), None, 3)
    assert doc["unassigned"] == [{"courier_id": str(leaving.id), "reason": "shift_ended", "at": at(unassigned)}]


def test_a_courier_going_off_duty_and_back() -> None:
    courier = Courier.register("Budi", *BUNDARAN_HI)
    courier.go_off_duty(OffDutyReason.SILENT)
    off = list(courier.collect_events())
    courier.go_on_duty()
    back = [*off, *courier.collect_events()]

    assert (only_doc(COURIERS, off)["on_duty"], only_doc(COURIERS, off)["off_duty_reason"]) == (False, "silent")
    assert (only_doc(COURIERS, back)["on_duty"], only_doc(COURIERS, back)["off_duty_reason"]) == (True, None)
    assert only_doc(COURIERS, back)["status"] == "AVAILABLE"


def test_checkpoints_move_the_order_and_set_its_eta_without_a_timeline_entry(story: Story) -> None:
    events = story.events
    first_checkpoint = first(events, "Shipment.RouteCheckpoint")

    on_the_way = fold(ORDERS, events[:events.index(first_checkpoint) + 1])[ORDER_ID]
    picked_up = fold(ORDERS, events[:events.index(first_checkpoint)])[ORDER_ID]

    assert on_the_way["shipment"]["position"] == {"lat": ON_THE_WAY[0][0], "lng": ON_THE_WAY[0][1],
                                                  "at": at(first_checkpoint)}
    assert on_the_way["shipment"]["eta"] == ETAS[0]
    assert (on_the_way["shipment"]["status"], on_the_way["shipment"]["picked_up_at"]) == (
        "IN_TRANSIT", at(first(events, "Shipment.PickedUp")))
    assert on_the_way["timeline"] == picked_up["timeline"]


def test_an_old_stores_location_update_moves_the_order_and_keeps_its_eta() -> None:
    courier = Courier.register("Budi", *BUNDARAN_HI)
    shipment = Shipment(order_id=ORDER_ID, customer_id="customer-1", destination=MONAS)
    shipment.assign(courier)
    shipment.pick_up(GeoPoint(*BUNDARAN_HI))
    shipment.record_checkpoint(GeoPoint(*ON_THE_WAY[0]), ETAS[0])
    # Stores written before the route's checkpoints hold one of these per position (no eta).
    shipment._location_updated(ORDER_ID, *ON_THE_WAY[1])
    events = list(shipment.collect_events())

    doc = fold(ORDERS, events)[ORDER_ID]

    assert doc["shipment"]["position"] == {"lat": ON_THE_WAY[1][0], "lng": ON_THE_WAY[1][1], "at": at(events[-1])}
    assert doc["shipment"]["eta"] == ETAS[0]
    assert "Shipment.LocationUpdated" not in [entry["event"] for entry in doc["timeline"]]
    assert track(events)[-1][1:] == (5, events[-1].timestamp, *ON_THE_WAY[1])


def test_stock_events_naming_an_order_do_not_reach_its_document(story: Story) -> None:
    assert ORDERS.documents is not None
    reserved = first(story.events, "Stock.Reserved")

    assert reserved.order_id == ORDER_ID
    assert ORDERS.documents.key(reserved) is None


@pytest.mark.parametrize("context_order", list(itertools.permutations(range(4))), ids=str)
def test_the_order_document_is_the_same_whichever_context_comes_first(
    story: Story, context_order: tuple[int, ...],
) -> None:
    streams = list(story.by_context().values())
    expected = fold(ORDERS, story.events)

    merged = [event for index in context_order for event in streams[index]]

    assert keeps_each_context_in_order(merged, streams)
    assert fold(ORDERS, merged) == expected


@pytest.mark.parametrize("seed", range(25))
def test_the_order_document_is_the_same_however_the_contexts_interleave(story: Story, seed: int) -> None:
    streams = list(story.by_context().values())
    expected = fold(ORDERS, story.events)

    merged = interleave(streams, random_picks(streams, seed))

    assert merged != story.events
    assert keeps_each_context_in_order(merged, streams)
    assert fold(ORDERS, merged) == expected


def test_the_single_context_models_do_not_depend_on_the_interleaving_either(story: Story) -> None:
    streams = list(story.by_context().values())
    merged = interleave(streams, random_picks(streams, seed=99))

    for model in (PRODUCTS, PAYMENTS, SHIPMENTS, COURIERS):
        assert fold(model, merged) == fold(model, story.events), model.name


# Secrets


def test_the_payment_token_is_in_no_document_row_or_message(story: Story) -> None:
    # It really is in the events: otherwise this test would prove nothing.
    assert first(story.events, "Order.Placed").payment_token == TOKEN
    assert first(story.events, "Payment.Requested").token == TOKEN

    for model in ALL_MODELS.values():
        if model.documents is not None:
            docs = fold(model, story.events)
            assert TOKEN not in json.dumps(list(docs.values())), model.name
            for entity_id, doc in docs.items():
                message = view_message(model.documents.kind, entity_id, doc, story.events[-1])
                assert TOKEN not in message.encoded().decode()
    audit = [row for event in story.events for row in audit_rows(event, 0)]
    assert TOKEN not in json.dumps(audit, default=str)
    for event in story.events:
        assert TOKEN not in domain_event_message(event).encoded().decode()


# The messaging contract


@pytest.mark.parametrize(("name", "key"), [
    ("Order.Placed", "order.created"),
    ("Payment.Authorized", "payment.success"),
    ("StockReservation.Held", "stock.reserved"),
    ("Shipment.CourierAssigned", "courier.assigned"),
    ("Stock.Restocked", "stock.restocked"),
    ("Stock.ProductCreated", "stock.product_created"),
    ("StockReservation.Requested", "stock_reservation.requested"),
    ("Courier.BecameBusy", "courier.became_busy"),
    ("Shipment.PickedUp", "shipment.picked_up"),
    ("Shipment.RouteCheckpoint", "shipment.route_checkpoint"),
])
def test_routing_keys(story: Story, name: str, key: str) -> None:
    assert routing_key(first(story.events, name)) == key


def test_reassignments_and_shifts_have_routing_keys() -> None:
    _, leaving, _, events = reassigned_shipment()
    leaving.go_on_duty()
    events = [*events, *leaving.collect_events()]
    named_keys = {event_name(event): routing_key(event) for event in events}

    assert {name: named_keys[name] for name in ("Shipment.CourierUnassigned", "Courier.WentOffDuty",
                                                "Courier.WentOnDuty")} == {
        "Shipment.CourierUnassigned": "courier.unassigned", "Courier.WentOffDuty": "courier.off_duty",
        "Courier.WentOnDuty": "courier.on_duty"}


def test_a_declined_payment_is_routed_as_failed() -> None:
    payment = requested_payment()
    payment.decline("insufficient funds")

    assert [routing_key(event) for event in payment.collect_events()] == ["payment.requested", "payment.failed"]


def test_the_domain_event_envelope(story: Story) -> None:
    placed = first(story.events, "Order.Placed")

    message = domain_event_message(placed)

    assert message.message_id == str(event_id(placed))
    assert message.routing_key == "order.created"
    assert message.aggregate_id == ORDER_ID
    assert set(message.body) == {"id", "type", "context", "aggregate_type", "aggregate_id", "version",
                                 "occurred_at", "correlation_id", "causation_id", "data"}
    assert {key: value for key, value in message.body.items() if key != "data"} == {
        "id": str(event_id(placed)),
        "type": "Order.Placed",
        "context": "orders",
        "aggregate_type": "Order",
        "aggregate_id": str(ORDER_ID),
        "version": 1,
        "occurred_at": at(placed),
        "correlation_id": CORRELATION,
        "causation_id": None,
    }
    assert message.body["data"] == {
        "customer_id": "customer-1",
        "lines": [{"product_id": str(story.stock.id), "quantity": 2, "unit_price": "12.50"}],
        "total": "25.00",
        "payment_token": "***",
        "delivery": {"address": MONAS.address, "lat": MONAS.lat, "lng": MONAS.lng},
    }
    assert json.loads(message.encoded()) == message.body


def test_the_payment_request_message_masks_the_token_and_keeps_the_saga_ids(story: Story) -> None:
    requested = first(story.events, "Payment.Requested")

    body = domain_event_message(requested).body

    assert body["data"] == {"order_id": str(ORDER_ID), "amount": "25.00", "token": "***"}
    assert (body["correlation_id"], body["causation_id"]) == (CORRELATION, "order-placed")
    assert (body["type"], body["context"], body["aggregate_type"]) == ("Payment.Requested", "payments", "Payment")


def test_event_ids_are_stable_and_distinct(story: Story) -> None:
    ids = [event_id(event) for event in story.events]

    assert ids == [event_id(event) for event in story.events]
    assert ids == [event_id(deepcopy(event)) for event in story.events]
    assert ids == [event_id(event) for event in through_the_store(story.events)]
    assert len(set(ids)) == len(ids)
    assert [domain_event_message(event).message_id for event in story.events] == [str(each) for each in ids]
