"""The couriers read model: who is on duty and can be dispatched, where they are, and what they carry.

A busy courier's route is recorded on its shipment (`Shipment.RouteCheckpoint`), so `position` here is where
it was last free (or registered); live positions come from the position path, not from this model.
"""

from typing import Any
from uuid import UUID

from domain.shipping import CourierStatus
from projections.event_data import aggregate_type, fact_of, to_json_value
from projections.models.common import touched
from projections.read_model import Column, Doc, Documents, ReadModel


def courier_id_of(event: Any) -> UUID | None:
    # Shipments share the Shipping log; they are the shipments model's business.
    if aggregate_type(event) != "Courier":
        return None
    courier_id: UUID = event.originator_id
    return courier_id


def reduce_courier(doc: Doc | None, event: Any) -> Doc:
    # Skip an event the document already reflects: a redelivered position would move the courier back in time.
    if doc is not None and event.originator_version <= doc.get("version", 0):
        return doc
    new = touched(doc, event.originator_id, event)
    fact = fact_of(event)
    at = event.timestamp.isoformat()
    if fact == "Registered":
        new.update({
            "name": event.name,
            "status": CourierStatus.AVAILABLE.value,
            "shipment_id": None,
            "on_duty": True,
            "off_duty_reason": None,
            "registered_at": at,
        })
    elif fact == "BecameBusy":
        new["status"] = CourierStatus.BUSY.value
        new["shipment_id"] = to_json_value(event.shipment_id)
    elif fact == "BecameAvailable":
        new["status"] = CourierStatus.AVAILABLE.value
        new["shipment_id"] = None
    elif fact == "WentOnDuty":
        new.update({"on_duty": True, "off_duty_reason": None})
    elif fact == "WentOffDuty":
        new.update({"on_duty": False, "off_duty_reason": event.reason})
    if fact in ("Registered", "LocationUpdated"):
        new["position"] = {"lat": event.lat, "lng": event.lng, "at": at}
    new["version"] = event.originator_version
    return new


COURIERS = ReadModel(
    name="couriers",
    upstreams=frozenset({"Shipping"}),
    documents=Documents(
        key=courier_id_of,
        reduce=reduce_courier,
        kind="courier",
        columns=(
            Column("status", "text", lambda doc: doc.get("status")),
            Column("name", "text", lambda doc: doc.get("name")),
        ),
    ),
)
