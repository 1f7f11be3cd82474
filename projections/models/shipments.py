"""The shipments read model: each shipment's state and last known position, and its track as rows.

The document keeps only the latest position; every position recorded on the route (the assignment, the pick-up
and each checkpoint) is kept in the track table, which grows by one row per position and so never rewrites a
large document for a long trip.
"""

from typing import Any
from uuid import UUID

from domain.shipping import ShipmentStatus
from projections.event_data import aggregate_type, fact_of, to_json_value
from projections.models.common import POSITION_FACTS, follow_journey, touched
from projections.read_model import Column, Doc, Documents, ReadModel, Rows

STATUS_AFTER = {
    "Created": ShipmentStatus.WAITING_FOR_COURIER,
    "CourierAssigned": ShipmentStatus.ASSIGNED,
    "PickedUp": ShipmentStatus.IN_TRANSIT,
    "CourierUnassigned": ShipmentStatus.WAITING_FOR_COURIER,
    "Delivered": ShipmentStatus.DELIVERED,
    "Cancelled": ShipmentStatus.CANCELLED,
}
# The facts that say where the goods are: the courier's position when assigned and at the pick-up, and each
# checkpoint of the route after (`LocationUpdated` in stores written before checkpoints).


def shipment_id_of(event: Any) -> UUID | None:
    # Couriers share the Shipping log; their own positions belong to the couriers model.
    if aggregate_type(event) != "Shipment":
        return None
    shipment_id: UUID = event.originator_id
    return shipment_id


def reduce_shipment(doc: Doc | None, event: Any) -> Doc:
    # A redelivered position would otherwise be counted twice in `track_points`.
    if doc is not None and event.originator_version <= doc.get("version", 0):
        return doc
    new = touched(doc, event.originator_id, event)
    fact = fact_of(event)
    at = event.timestamp.isoformat()
    new["order_id"] = to_json_value(event.order_id)
    if fact == "Created":
        new.update({
            "customer_id": event.customer_id,
            "destination": to_json_value(event.destination),
            "courier_id": None,
            "position": None,
            "created_at": at,
            "assigned_at": None,
            "picked_up_at": None,
            "delivered_at": None,
            "eta": None,
            "track_points": 0,
        })
    elif fact == "CourierAssigned":
        new.update({"courier_id": to_json_value(event.courier_id), "assigned_at": at, "eta": None})
    elif fact == "CourierUnassigned":
        # Waiting again; the next CourierAssigned (usually in the same recording) names the new courier.
        new.update({"courier_id": None, "assigned_at": None, "eta": None,
                    "unassigned": [*new.get("unassigned", []), {"courier_id": to_json_value(event.courier_id),
                                                                 "reason": event.reason, "at": at}]})
    follow_journey(new, fact, event, at)
    if fact in POSITION_FACTS:
        new["track_points"] = new.get("track_points", 0) + 1
    status = STATUS_AFTER.get(fact)
    if status is not None:
        new["status"] = status.value
    new["version"] = event.originator_version
    return new


def track_rows(event: Any, position: int) -> list[tuple[Any, ...]]:
    if aggregate_type(event) != "Shipment" or fact_of(event) not in POSITION_FACTS:
        return []
    return [(event.originator_id, event.originator_version, event.timestamp, event.lat, event.lng)]


def _uuid_column(name: str) -> Column:
    def value(doc: Doc) -> UUID | None:
        text = doc.get(name)
        return UUID(text) if text else None

    return Column(name, "uuid", value)


SHIPMENTS = ReadModel(
    name="shipments",
    upstreams=frozenset({"Shipping"}),
    documents=Documents(
        key=shipment_id_of,
        reduce=reduce_shipment,
        kind="shipment",
        columns=(
            _uuid_column("order_id"),
            _uuid_column("courier_id"),
            Column("status", "text", lambda doc: doc.get("status")),
            Column("customer_id", "text", lambda doc: doc.get("customer_id")),
        ),
    ),
    rows=Rows(
        table="track",
        columns=(
            ("shipment_id", "uuid"),
            ("version", "integer"),
            ("at", "timestamptz"),
            ("lat", "double precision"),
            ("lng", "double precision"),
        ),
        rows=track_rows,
        # A shipment's version identifies the event, so a replayed position is not stored twice.
        unique=("shipment_id", "version"),
        indexes=(("shipment_id", "at"),),
    ),
)
