"""The audit log: one row per event of every context, and every event published as a domain-event message."""

from typing import Any

from projections.event_data import aggregate_type, context_of, event_id, event_name, masked_event_data
from projections.read_model import ReadModel, Rows


def audit_rows(event: Any, position: int) -> list[tuple[Any, ...]]:
    return [(
        event_id(event),
        context_of(event),
        position,
        aggregate_type(event),
        event.originator_id,
        event.originator_version,
        event_name(event),
        event.timestamp,
        getattr(event, "correlation_id", None),
        getattr(event, "causation_id", None),
        masked_event_data(event),
    )]

AUDIT_EVENTS = ReadModel(
    name="audit",
    upstreams=frozenset({"Orders", "Inventory", "Payments", "Shipping"}),
    rows=Rows(
        table="events",
        columns=(
            ("event_id", "uuid"),
            ("context", "text"),
            ("position", "bigint"),
            ("aggregate_type", "text"),
            ("aggregate_id", "uuid"),
            ("version", "integer"),
            ("event_type", "text"),
            ("occurred_at", "timestamptz"),
            ("correlation_id", "text"),
            ("causation_id", "text"),
            ("data", "jsonb"),
        ),
        rows=audit_rows,
        unique=("event_id",),
        indexes=(("aggregate_id", "version"), ("event_type", "occurred_at"), ("correlation_id", "occurred_at"),
                 ("occurred_at",), ("context", "position")),
    ),
    publishes_domain_events=True,
)
