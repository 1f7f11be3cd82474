"""The messaging contract: routing keys and envelopes for domain events and view changes."""

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from projections.event_data import (
    aggregate_type,
    context_of,
    event_id,
    event_name,
    fact_of,
    masked_event_data,
    snake_case,
    to_json_value,
)

# Routing keys that keep the original system's names; every other event is `<aggregate>.<fact>` in snake case.
ROUTING_KEYS = {
    "Order.Placed": "order.created",
    "Order.Confirmed": "order.confirmed",
    "Order.Cancelled": "order.cancelled",
    "Order.Received": "order.received",
    "StockReservation.Held": "stock.reserved",
    "StockReservation.Rejected": "stock.rejected",
    "StockReservation.Released": "stock.released",
    "StockReservation.Committed": "stock.committed",
    "Payment.Authorized": "payment.success",
    "Payment.Declined": "payment.failed",
    "Shipment.Created": "shipment.created",
    "Shipment.CourierAssigned": "courier.assigned",
    "Shipment.CourierUnassigned": "courier.unassigned",
    "Shipment.PickedUp": "shipment.picked_up",
    "Shipment.RouteCheckpoint": "shipment.route_checkpoint",
    "Shipment.LocationUpdated": "shipment.location_updated",
    "Shipment.Delivered": "shipment.delivered",
    "Courier.WentOnDuty": "courier.on_duty",
    "Courier.WentOffDuty": "courier.off_duty",
}


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    routing_key: str
    aggregate_id: UUID
    body: dict[str, Any]

    def encoded(self) -> bytes:
        """The message body on the wire: compact JSON, keys sorted. The relay publishes exactly these bytes."""
        return json.dumps(self.body, separators=(",", ":"), sort_keys=True).encode()


def routing_key(event: Any) -> str:
    name = event_name(event)
    return ROUTING_KEYS.get(name) or f"{snake_case(aggregate_type(event))}.{snake_case(fact_of(event))}"


def domain_event_message(event: Any) -> OutboxMessage:
    identifier = event_id(event)
    return OutboxMessage(
        message_id=str(identifier),
        routing_key=routing_key(event),
        aggregate_id=event.originator_id,
        body={
            "id": str(identifier),
            "type": event_name(event),
            "context": context_of(event),
            "aggregate_type": aggregate_type(event),
            "aggregate_id": str(event.originator_id),
            "version": event.originator_version,
            "occurred_at": event.timestamp.isoformat(),
            "correlation_id": getattr(event, "correlation_id", None),
            "causation_id": getattr(event, "causation_id", None),
            "data": masked_event_data(event),
        },
    )


def view_message(kind: str, entity_id: UUID, doc: dict[str, Any] | None, event: Any) -> OutboxMessage:
    """A read model row changed because of `event`; the id is the same in every generation of the model."""
    identifier = uuid5(event_id(event), f"view.{kind}.{entity_id}")
    return OutboxMessage(
        message_id=str(identifier),
        routing_key=f"view.{kind}.{'updated' if doc is not None else 'deleted'}",
        aggregate_id=entity_id,
        body={
            "id": str(identifier),
            "type": f"view.{kind}.{'updated' if doc is not None else 'deleted'}",
            "view": kind,
            "entity_id": str(entity_id),
            "caused_by": str(event_id(event)),
            "correlation_id": getattr(event, "correlation_id", None),
            "occurred_at": event.timestamp.isoformat(),
            "data": to_json_value(doc),
        },
    )
