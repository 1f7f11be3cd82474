"""Facts about stored domain events that every projection needs: names, ids, contexts, JSON data."""

import dataclasses
import re
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import NAMESPACE_OID, UUID, uuid5

# The library's own attributes of every event; the rest is the event's data.
METADATA_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic",
                             "correlation_id", "causation_id"})

CONTEXT_OF_MODULE = {
    "domain.order": "orders",
    "domain.stock": "inventory",
    "domain.reservation": "inventory",
    "domain.payment": "payments",
    "domain.shipping": "shipping",
}


def event_name(event: Any) -> str:
    """`Order.Placed`, `Stock.Reserved`: the aggregate and the fact."""
    return str(type(event).__qualname__)


def aggregate_type(event: Any) -> str:
    return event_name(event).split(".", 1)[0]


def fact_of(event: Any) -> str:
    return event_name(event).rsplit(".", 1)[-1]


def context_of(event: Any) -> str:
    return CONTEXT_OF_MODULE.get(type(event).__module__, type(event).__module__.rsplit(".", 1)[-1])


def event_id(event: Any) -> UUID:
    """A stable id for a stored event: the same event always has the same id, in every replay."""
    return uuid5(NAMESPACE_OID, f"{event.originator_id}/{event.originator_version}")


def to_json_value(value: Any) -> Any:
    """Event attribute values as plain JSON: ids and amounts as strings, value objects as objects."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_json_value(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    return value


def event_data(event: Any) -> dict[str, Any]:
    """The event's own attributes, without the library's metadata."""
    return {name: to_json_value(value) for name, value in vars(event).items() if name not in METADATA_FIELDS}


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# Secrets never leave the event store: the audit log and the published messages show them masked.
MASKED_FIELDS = frozenset({"payment_token", "token"})


def masked_event_data(event: Any) -> dict[str, Any]:
    return {key: ("***" if key in MASKED_FIELDS and value else value) for key, value in event_data(event).items()}
