"""The audit log: every event of every context as recorded in `read.audit_events`, and the story of one order.

Causation ids say what caused an event: `Orders:123` is the event at notification 123 of the Orders log (the
saga reacting to it), `request:<id>` an API request. A trace resolves the former into links between events.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Generic, Literal, TypeVar
from uuid import UUID

from psycopg.rows import DictRow

from projections.event_data import CONTEXT_OF_MODULE
from queries.pagination import (
    InvalidQuery,
    Page,
    clamp_limit,
    cursor_int,
    cursor_time,
    cursor_uuid,
    decode_cursor,
    page_of,
    text_parameter,
)
from queries.reading import Pool, fetch_all, fetch_one

CONTEXTS = frozenset(CONTEXT_OF_MODULE.values())
REQUEST_PREFIX = "request:"

COLUMNS = ("event_id, context, position, aggregate_type, aggregate_id, version, event_type, occurred_at, "
           "correlation_id, causation_id, data")
CHECKPOINT_TYPES: Final = {
    "Shipment.RouteCheckpoint": "route checkpoints",
    "Shipment.LocationUpdated": "route checkpoints",  # stores from before the route's checkpoints
    "Courier.LocationUpdated": "position updates",
}
"""Events that only say where a courier was: a run of them is one line in a trace or a stream."""
T = TypeVar("T")


@dataclass(frozen=True)
class AuditEvent:
    event_id: UUID
    context: str
    position: int
    """The event's notification id in its context's log."""
    aggregate_type: str
    aggregate_id: UUID
    version: int
    event_type: str
    occurred_at: datetime
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Cause:
    """What an event's causation id points at: another event (found in the log), an API request, or one of the
    platform's own loops (`shipping:dispatch-sweep`, `tracking:checkpointer`, `tracking:courier-watch`)."""

    kind: Literal["event", "request", "process"]
    event_id: UUID | None = None
    context: str | None = None
    position: int | None = None
    event_type: str | None = None
    aggregate_id: UUID | None = None
    request_id: str | None = None
    process: str | None = None


@dataclass(frozen=True)
class TracedEvent:
    event: AuditEvent
    caused_by: Cause | None


@dataclass(frozen=True)
class CheckpointRun(Generic[T]):
    """Consecutive checkpoints of one aggregate, shown collapsed ("18 route checkpoints") and expandable."""

    checkpoints: list[T]
    first: AuditEvent
    last: AuditEvent

    @property
    def label(self) -> str:
        return f"{len(self.checkpoints)} {CHECKPOINT_TYPES[self.first.event_type]}"

    def holds_version(self, version: int) -> bool:
        return self.first.version <= version <= self.last.version


def collapse_checkpoints(items: Sequence[T], event_of: Callable[[T], AuditEvent]) -> list[T | CheckpointRun[T]]:
    """The items with each run of two or more consecutive checkpoints of one aggregate as one CheckpointRun."""
    collapsed: list[T | CheckpointRun[T]] = []
    run: list[T] = []

    def close_run() -> None:
        if len(run) > 1:
            collapsed.append(CheckpointRun(list(run), event_of(run[0]), event_of(run[-1])))
        else:
            collapsed.extend(run)
        run.clear()

    for item in items:
        event = event_of(item)
        if event.event_type in CHECKPOINT_TYPES and (not run or event_of(run[0]).aggregate_id == event.aggregate_id):
            run.append(item)
            continue
        close_run()
        if event.event_type in CHECKPOINT_TYPES:
            run.append(item)
        else:
            collapsed.append(item)
    close_run()
    return collapsed


def _audit_event(row: DictRow) -> AuditEvent:
    return AuditEvent(**row)


def _time_key(row: DictRow) -> tuple[Any, ...]:
    return row["occurred_at"].isoformat(), row["event_id"]


def _version_key(row: DictRow) -> tuple[Any, ...]:
    return (row["version"],)


def as_utc(moment: datetime) -> datetime:
    """A time without an offset is taken as UTC, the time the log itself is kept in."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def event_log_position(causation_id: str | None) -> tuple[str, int] | None:
    """`Orders:123` as (`orders`, 123): the context and notification id of the causing event, if it is one."""
    if not causation_id or causation_id.startswith(REQUEST_PREFIX):
        return None
    application, _, position = causation_id.rpartition(":")
    if application.lower() not in CONTEXTS or not position.isdigit():
        return None
    return application.lower(), int(position)


class AuditQueries:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def events(self, *, context: str | None = None, aggregate_id: UUID | None = None, event_type: str | None = None,
               correlation_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
               cursor: str | None = None, limit: int = 50, newest_first: bool = False) -> Page[AuditEvent]:
        """In time order (or newest first), `since` inclusive and `until` exclusive. A `type` without a dot
        (`Order`) matches every event of that aggregate type, with one (`Order.Placed`) that event only."""
        conditions: list[str] = []
        params: list[Any] = []
        if context is not None:
            if context.lower() not in CONTEXTS:
                raise InvalidQuery("context", f"must be one of {', '.join(sorted(CONTEXTS))}")
            conditions.append("context = %s")
            params.append(context.lower())
        if aggregate_id is not None:
            conditions.append("aggregate_id = %s")
            params.append(aggregate_id)
        if event_type is not None:
            conditions.append("event_type = %s" if "." in event_type else "aggregate_type = %s")
            params.append(text_parameter("type", event_type))
        if correlation_id is not None:
            conditions.append("correlation_id = %s")
            params.append(text_parameter("correlation_id", correlation_id))
        since = as_utc(since) if since is not None else None
        until = as_utc(until) if until is not None else None
        if since is not None and until is not None and since > until:
            raise InvalidQuery("since", "must not be after until")
        if since is not None:
            conditions.append("occurred_at >= %s")
            params.append(since)
        if until is not None:
            conditions.append("occurred_at < %s")
            params.append(until)
        return self._in_time_order(conditions, params, cursor, limit, newest_first=newest_first)

    def stream(self, aggregate_id: UUID, *, cursor: str | None = None, limit: int = 50) -> Page[AuditEvent]:
        """One aggregate's events in version order."""
        conditions: list[str] = ["aggregate_id = %s"]
        params: list[Any] = [aggregate_id]
        if cursor is not None:
            (version,) = decode_cursor(cursor, 1)
            conditions.append("version > %s")
            params.append(cursor_int(version))
        size = clamp_limit(limit)
        rows = fetch_all(self._pool, f"SELECT {COLUMNS} FROM read.audit_events WHERE {' AND '.join(conditions)} "
                         "ORDER BY version LIMIT %s", (*params, size + 1))
        return page_of(rows, size, _version_key, _audit_event)

    def has_stream(self, aggregate_id: UUID) -> bool:
        return fetch_one(self._pool, "SELECT 1 FROM read.audit_events WHERE aggregate_id = %s LIMIT 1",
                         (aggregate_id,)) is not None

    def has_trace(self, correlation_id: str) -> bool:
        return fetch_one(self._pool, "SELECT 1 FROM read.audit_events WHERE correlation_id = %s LIMIT 1",
                         (text_parameter("correlation_id", correlation_id),)) is not None

    def trace(self, correlation_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[TracedEvent]:
        """Everything one correlation (an order) caused, across contexts, in time order, each with its cause."""
        page = self._in_time_order(["correlation_id = %s"], [text_parameter("correlation_id", correlation_id)],
                                   cursor, limit)
        known = {(event.context, event.position): event for event in page.items}
        wanted = {key for event in page.items if (key := event_log_position(event.causation_id)) is not None}
        # A cause may sit on an earlier page, or (rarely) carry another correlation: look those up at once.
        known.update(self._at_positions(wanted - known.keys()))
        return Page([TracedEvent(event, _cause(event.causation_id, known)) for event in page.items],
                    page.next_cursor)

    def _at_positions(self, keys: set[tuple[str, int]]) -> dict[tuple[str, int], AuditEvent]:
        if not keys:
            return {}
        contexts, positions = zip(*sorted(keys), strict=True)
        rows = fetch_all(self._pool, f"SELECT {COLUMNS} FROM read.audit_events "
                         "JOIN unnest(%s::text[], %s::bigint[]) AS wanted(context, position) USING (context, position)",
                         (list(contexts), list(positions)))
        return {(row["context"], row["position"]): _audit_event(row) for row in rows}

    def _in_time_order(self, conditions: list[str], params: list[Any], cursor: str | None,
                       limit: int, *, newest_first: bool = False) -> Page[AuditEvent]:
        conditions, params = list(conditions), list(params)
        if cursor is not None:
            occurred_at, last_id = decode_cursor(cursor, 2)
            conditions.append(f"(occurred_at, event_id) {'<' if newest_first else '>'} (%s, %s)")
            params.extend([cursor_time(occurred_at), cursor_uuid(last_id)])
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        order = "occurred_at DESC, event_id DESC" if newest_first else "occurred_at, event_id"
        size = clamp_limit(limit)
        rows = fetch_all(self._pool, f"SELECT {COLUMNS} FROM read.audit_events {where}ORDER BY {order} LIMIT %s",
                         (*params, size + 1))
        return page_of(rows, size, _time_key, _audit_event)


def _cause(causation_id: str | None, known: dict[tuple[str, int], AuditEvent]) -> Cause | None:
    if causation_id is not None and causation_id.startswith(REQUEST_PREFIX):
        return Cause(kind="request", request_id=causation_id.removeprefix(REQUEST_PREFIX))
    key = event_log_position(causation_id)
    if key is None and causation_id is not None and ":" in causation_id:
        return Cause(kind="process", process=causation_id)
    cause = known.get(key) if key is not None else None
    if cause is None:
        return None
    return Cause(kind="event", event_id=cause.event_id, context=cause.context, position=cause.position,
                 event_type=cause.event_type, aggregate_id=cause.aggregate_id)
