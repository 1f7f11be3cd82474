"""The orders read model: what a customer sees of an order, from all four contexts.

Each context writes its own part of the document (the order itself, `stock`, `payment`, `shipment`), so the
result does not depend on which context's runner got to an order first. The route's checkpoints move
`shipment.position` and `shipment.eta` without a timeline entry: the timeline tells the story, not the drive.
"""

from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from domain.order import OrderStatus
from projections.event_data import aggregate_type, fact_of, to_json_value
from projections.models.common import CHECKPOINT_FACTS, follow_journey, timeline_entry, touched, with_entry
from projections.read_model import Column, Doc, Documents, ReadModel

STATUS_AFTER = {
    "Placed": OrderStatus.PENDING,
    "Confirmed": OrderStatus.CONFIRMED,
    "Cancelled": OrderStatus.CANCELLED,
    "InTransit": OrderStatus.IN_TRANSIT,
    "Delivered": OrderStatus.DELIVERED,
    "Received": OrderStatus.RECEIVED,
}
PAYMENT_STATUS_AFTER = {
    "Requested": "REQUESTED", "Authorized": "AUTHORIZED", "Declined": "DECLINED", "TimedOut": "TIMED_OUT",
    "Captured": "CAPTURED", "Voided": "VOIDED", "Refunded": "REFUNDED",
}
STOCK_STATUS_AFTER = {"Held": "RESERVED", "Rejected": "REJECTED", "Released": "RELEASED", "Committed": "COMMITTED"}
SHIPMENT_STATUS_AFTER = {
    "Created": "WAITING_FOR_COURIER", "CourierAssigned": "ASSIGNED", "PickedUp": "IN_TRANSIT",
    "CourierUnassigned": "WAITING_FOR_COURIER", "Delivered": "DELIVERED", "Cancelled": "CANCELLED",
}
"""Where the courier is on the route: the shipment's position, never a timeline entry."""
DELIVERY_PROMISE_MIN: Final = 45
"""Minutes from an order's confirmation to the delivery the customer is promised."""
UNASSIGNED_BECAUSE: Final = {
    "shift_ended": "reassigned: the courier's shift ended",
    "silent": "reassigned: the courier stopped reporting",
}


def order_id_of(event: Any) -> UUID | None:
    kind = aggregate_type(event)
    if kind == "Order":
        return event.originator_id  # type: ignore[no-any-return]
    if kind in ("Payment", "StockReservation", "Shipment"):
        return getattr(event, "order_id", None)
    return None


def reduce_order(doc: Doc | None, event: Any) -> Doc:
    order_id = order_id_of(event)
    new = touched(doc, order_id, event)
    kind, fact = aggregate_type(event), fact_of(event)
    status = None
    if kind == "Order":
        status = _apply_order_fact(new, event, fact)
    elif kind == "Payment":
        payment = dict(new.get("payment") or {})
        payment.update({"payment_id": str(event.originator_id), "status": PAYMENT_STATUS_AFTER.get(fact, fact),
                        "version": event.originator_version})
        if fact == "Requested":
            payment["amount"] = to_json_value(event.amount)
        new["payment"] = payment
    elif kind == "StockReservation":
        stock = {"reservation_id": str(event.originator_id), "status": STOCK_STATUS_AFTER.get(fact, fact)}
        if fact != "Requested":
            new["stock"] = stock
    elif kind == "Shipment":
        _apply_shipment_fact(new, event, fact)
    if fact not in CHECKPOINT_FACTS:  # positions go to the shipment's track, not the order's timeline
        new["timeline"] = with_entry(new.get("timeline"), timeline_entry(event, status=status, **_notes(event, fact)))
    return new


def _notes(event: Any, fact: str) -> dict[str, Any]:
    if fact != "CourierUnassigned":
        return {}
    return {"reason": event.reason, "note": UNASSIGNED_BECAUSE.get(event.reason, f"reassigned: {event.reason}")}


def promised_by(confirmed_at: datetime) -> datetime:
    return confirmed_at + timedelta(minutes=DELIVERY_PROMISE_MIN)


def _apply_order_fact(new: Doc, event: Any, fact: str) -> str | None:
    if fact == "Placed":
        new.update({
            "customer_id": event.customer_id,
            "items": to_json_value(event.lines),
            "total": to_json_value(event.total),
            "delivery": to_json_value(event.delivery),
            "placed_at": event.timestamp.isoformat(),
        })
    elif fact == "Confirmed":
        new["promised_by"] = promised_by(event.timestamp).isoformat()
    elif fact == "Cancelled":
        new["cancel_reason"] = event.reason
        new["cancel_note"] = event.note
    elif fact == "InTransit":
        new["courier_id"] = str(event.courier_id)
    status = STATUS_AFTER.get(fact)
    if status is not None:
        new["status"] = status.value
        new["order_version"] = event.originator_version
        return status.value
    return None


def _apply_shipment_fact(new: Doc, event: Any, fact: str) -> None:
    shipment = dict(new.get("shipment") or {})
    shipment["shipment_id"] = str(event.originator_id)
    at = event.timestamp.isoformat()
    if fact in SHIPMENT_STATUS_AFTER:
        shipment["status"] = SHIPMENT_STATUS_AFTER[fact]
    if fact == "CourierAssigned":
        # A reassignment starts the route again from the new courier: the map draws it from this version.
        shipment.update({"courier_id": str(event.courier_id), "assigned_at": at,
                         "assigned_version": event.originator_version, "eta": None})
    elif fact == "CourierUnassigned":
        shipment.update({"courier_id": None, "position": None, "eta": None})
    follow_journey(shipment, fact, event, at)
    new["shipment"] = shipment


def _placed_at(doc: Doc) -> str | None:
    value = doc.get("placed_at")
    return str(value) if value else None


ORDERS = ReadModel(
    name="orders",
    upstreams=frozenset({"Orders", "Inventory", "Payments", "Shipping"}),
    documents=Documents(
        key=order_id_of,
        reduce=reduce_order,
        kind="order",
        columns=(
            Column("status", "text", lambda doc: doc.get("status")),
            Column("customer_id", "text", lambda doc: doc.get("customer_id")),
            Column("placed_at", "timestamptz", _placed_at),
        ),
    ),
)
