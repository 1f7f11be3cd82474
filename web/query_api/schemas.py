"""The query API's response bodies. Read-model documents are passed through as they are stored."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec


class OrderList(msgspec.Struct, frozen=True):
    items: list[dict[str, Any]]
    next_cursor: str | None


# Products, shipments, couriers: documents as their read models keep them (see projections/models).

class ProductPage(msgspec.Struct, frozen=True):
    items: list[dict[str, Any]]
    next_cursor: str | None


class CourierPage(msgspec.Struct, frozen=True):
    items: list[dict[str, Any]]
    next_cursor: str | None


class ShipmentPage(msgspec.Struct, frozen=True):
    items: list[dict[str, Any]]
    next_cursor: str | None


class TrackPoint(msgspec.Struct, frozen=True):
    version: Annotated[int, msgspec.Meta(description="the shipment version that reported the position")]
    at: datetime
    lat: float
    lng: float


class ShipmentWithTrack(msgspec.Struct, frozen=True):
    shipment: dict[str, Any]
    track: Annotated[list[TrackPoint], msgspec.Meta(description="every reported position, in version order")]


# The audit log.

class AuditEvent(msgspec.Struct, frozen=True):
    event_id: UUID
    context: Annotated[str, msgspec.Meta(examples=["orders"])]
    position: Annotated[int, msgspec.Meta(description="notification id in the context's log")]
    aggregate_type: Annotated[str, msgspec.Meta(examples=["Order"])]
    aggregate_id: UUID
    version: int
    event_type: Annotated[str, msgspec.Meta(examples=["Order.Placed"])]
    occurred_at: datetime
    correlation_id: str | None
    causation_id: Annotated[str | None, msgspec.Meta(examples=["request:4f1c", "Orders:12"])]
    data: Annotated[dict[str, Any], msgspec.Meta(description="the event's own attributes, secrets masked")]


class AuditEventPage(msgspec.Struct, frozen=True):
    items: list[AuditEvent]
    next_cursor: str | None


class Cause(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: Literal["event", "request", "process"]
    event_id: UUID | None = None
    context: str | None = None
    position: int | None = None
    event_type: str | None = None
    aggregate_id: UUID | None = None
    request_id: str | None = None
    process: str | None = None
    """For `process`: the platform's loop that decided it, e.g. `tracking:checkpointer`."""


class TracedEvent(AuditEvent, frozen=True):
    caused_by: Annotated[Cause | None, msgspec.Meta(
        description="the event (or API request) its causation id names; null when not (yet) in the log")]


class TracePage(msgspec.Struct, frozen=True):
    correlation_id: str
    items: list[TracedEvent]
    next_cursor: str | None


class Change(msgspec.Struct, frozen=True):
    before: Any
    after: Any


class EventAtVersion(msgspec.Struct, frozen=True):
    event_id: UUID
    type: str
    version: int
    occurred_at: datetime
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]


class AggregateState(msgspec.Struct, frozen=True):
    aggregate_id: UUID
    aggregate_type: str
    context: str
    version: int
    current_version: int
    created_on: datetime
    modified_on: datetime
    state: Annotated[dict[str, Any], msgspec.Meta(description="the aggregate's attributes at `version`")]
    changed: Annotated[dict[str, Change], msgspec.Meta(
        description="what the event at `version` changed; `before` is null at version 1")]
    event: EventAtVersion
