"""An aggregate as it was at any version, rebuilt from the event store itself rather than from a read model.

The stored events are decoded with the writers' own mapper (either stored format, the same transcodings) and
folded with the library's own projector, so what this shows is what the write side would have loaded then.
"""

import inspect
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Composed, Identifier, Literal

from adapters.database import CONTEXT_SCHEMAS
from adapters.event_codec import stored_event_mapper
from domain.base import EnumState
from projections.event_data import MASKED_FIELDS, event_id, event_name, masked_event_data, to_json_value
from queries.pagination import InvalidQuery
from queries.reading import Pool, fetch_all, fetch_one

# The library's bookkeeping on every aggregate; version and times are answered beside the state instead.
LIBRARY_ATTRIBUTES = frozenset({"_id", "_version", "_created_on", "_modified_on", "_pending_events"})


@dataclass(frozen=True)
class EventTable:
    context: str
    """As the audit log names it: `orders`, `inventory`, `payments`, `shipping`."""
    table: Composed


EVENT_TABLES = tuple(
    EventTable(application.lower(),
               SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{application.lower()}_events")))
    for application, schema in CONTEXT_SCHEMAS.items()
)


@dataclass(frozen=True)
class Change:
    before: Any
    after: Any


@dataclass(frozen=True)
class EventAt:
    event_id: UUID
    type: str
    version: int
    occurred_at: datetime
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class AggregateAt:
    aggregate_id: UUID
    aggregate_type: str
    context: str
    version: int
    current_version: int
    created_on: datetime
    modified_on: datetime
    state: dict[str, Any]
    changed: dict[str, Change]
    """Each attribute the event at `version` changed, from what it was at the version before (None at 1)."""
    event: EventAt


def aggregate_state(aggregate: Any) -> dict[str, Any]:
    """The aggregate's attributes as JSON, enum states under their public names, secrets masked."""
    state: dict[str, Any] = {}
    for attribute, value in vars(aggregate).items():
        if attribute in LIBRARY_ATTRIBUTES:
            continue
        name = public_name(type(aggregate), attribute)
        state[name] = "***" if name in MASKED_FIELDS and value else to_json_value(value)
    return state


def public_name(cls: type, attribute: str) -> str:
    """`_status` is `status` when `status` is an enum-state descriptor that keeps its value there."""
    if attribute.startswith("_"):
        descriptor = inspect.getattr_static(cls, attribute[1:], None)
        if isinstance(descriptor, EnumState) and descriptor.attribute == attribute:
            return attribute[1:]
    return attribute


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Change]:
    if before is None:
        # The first event sets what it sets: a field it leaves empty did not change from anything.
        return {name: Change(None, value) for name, value in after.items() if value is not None}
    names = [*after, *(name for name in before if name not in after)]
    return {name: Change(before.get(name), after.get(name)) for name in names if before.get(name) != after.get(name)}


class EventStoreQueries:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._mapper = stored_event_mapper()

    def current_version(self, aggregate_id: UUID) -> tuple[EventTable, int] | None:
        """The aggregate's context and latest version, looked up in every context's store at once."""
        heads = SQL(" UNION ALL ").join(
            SQL("SELECT {0} AS context, max(originator_version) AS version FROM {1} WHERE originator_id = %(id)s")
            .format(Literal(table.context), table.table) for table in EVENT_TABLES)
        row = fetch_one(self._pool, SQL("SELECT context, version FROM ({0}) AS heads WHERE version IS NOT NULL")
                        .format(heads), {"id": aggregate_id})
        if row is None:
            return None
        table = next(table for table in EVENT_TABLES if table.context == row["context"])
        return table, int(row["version"])

    def aggregate_at(self, aggregate_id: UUID, version: int | None = None) -> AggregateAt | None:
        """None for an aggregate no context has; `version` defaults to the latest."""
        found = self.current_version(aggregate_id)
        if found is None:
            return None
        table, current = found
        version = current if version is None else version
        if not 1 <= version <= current:
            raise InvalidQuery("version", f"must be between 1 and {current}, the aggregate's latest version")
        rows = fetch_all(self._pool, SQL(
            "SELECT originator_version, topic, state FROM {0} WHERE originator_id = %s "
            "AND originator_version <= %s ORDER BY originator_version").format(table.table), (aggregate_id, version))
        events: list[Any] = [self._mapper.to_domain_event(StoredEvent(
            originator_id=aggregate_id, originator_version=row["originator_version"], topic=row["topic"],
            state=bytes(row["state"]))) for row in rows]
        *earlier, last = events
        previous: Any = project_aggregate(None, earlier)
        # Taken before the last event is applied: folding changes the same aggregate object in place.
        before = aggregate_state(previous) if previous is not None else None
        aggregate: Any = project_aggregate(previous, [last])
        after = aggregate_state(aggregate)
        return AggregateAt(
            aggregate_id=aggregate_id,
            aggregate_type=type(aggregate).__name__,
            context=table.context,
            version=version,
            current_version=current,
            created_on=aggregate.created_on,
            modified_on=aggregate.modified_on,
            state=after,
            changed=changes(before, after),
            event=EventAt(
                event_id=event_id(last),
                type=event_name(last),
                version=last.originator_version,
                occurred_at=last.timestamp,
                correlation_id=getattr(last, "correlation_id", None),
                causation_id=getattr(last, "causation_id", None),
                data=masked_event_data(last),
            ),
        )
