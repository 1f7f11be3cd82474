"""The audit log, for operators: every event of every context, one aggregate's history and past states, and
everything one order caused across the contexts."""

from typing import Annotated
from uuid import UUID

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Example
from litestar.params import FromPath, Parameter, QueryParameter

from adapters.event_store_reader import AggregateAt, EventStoreQueries
from domain.identity import Role
from queries import audit
from queries.audit import AuditQueries
from queries.errors import NotFound
from queries.pagination import MAX_LIMIT
from web.auth import requires
from web.query_api.examples import AGGREGATE_STATE, AUDIT_PAGE, STREAM_PAGE, TRACE_PAGE
from web.query_api.parameters import CONTEXT_NAME, Cursor, Limit, moment
from web.query_api.schemas import (
    AggregateState,
    AuditEvent,
    AuditEventPage,
    Cause,
    Change,
    EventAtVersion,
    TracedEvent,
    TracePage,
)
from web.strict_input import PLAIN_TEXT, RFC3339


def audit_event(event: audit.AuditEvent) -> AuditEvent:
    return AuditEvent(
        event_id=event.event_id, context=event.context, position=event.position,
        aggregate_type=event.aggregate_type, aggregate_id=event.aggregate_id, version=event.version,
        event_type=event.event_type, occurred_at=event.occurred_at, correlation_id=event.correlation_id,
        causation_id=event.causation_id, data=event.data,
    )


def traced_event(traced: audit.TracedEvent) -> TracedEvent:
    event, cause = traced.event, traced.caused_by
    return TracedEvent(
        event_id=event.event_id, context=event.context, position=event.position,
        aggregate_type=event.aggregate_type, aggregate_id=event.aggregate_id, version=event.version,
        event_type=event.event_type, occurred_at=event.occurred_at, correlation_id=event.correlation_id,
        causation_id=event.causation_id, data=event.data,
        caused_by=None if cause is None else Cause(
            kind=cause.kind, event_id=cause.event_id,
            context=cause.context, position=cause.position, event_type=cause.event_type,
            aggregate_id=cause.aggregate_id, request_id=cause.request_id, process=cause.process),
    )


def aggregate_state(found: AggregateAt) -> AggregateState:
    event = found.event
    return AggregateState(
        aggregate_id=found.aggregate_id, aggregate_type=found.aggregate_type, context=found.context,
        version=found.version, current_version=found.current_version, created_on=found.created_on,
        modified_on=found.modified_on, state=found.state,
        changed={name: Change(before=change.before, after=change.after) for name, change in found.changed.items()},
        event=EventAtVersion(event_id=event.event_id, type=event.type, version=event.version,
                             occurred_at=event.occurred_at, correlation_id=event.correlation_id,
                             causation_id=event.causation_id, data=event.data),
    )


class AuditController(Controller):
    path = "/api/audit"
    tags = ["audit"]
    guards = [requires(Role.ADMIN)]

    @get("/events", operation_id="ListAuditEvents", sync_to_thread=True, responses=AUDIT_PAGE,
         summary="Every event of every context in time order, filtered")
    def list_events(
        self,
        audit_queries: NamedDependency[AuditQueries],
        context: Annotated[str | None, QueryParameter(
            pattern=CONTEXT_NAME, description="orders, inventory, payments or shipping (any case)",
            examples=[Example(value="payments")])] = None,
        aggregate_id: Annotated[UUID | None, QueryParameter()] = None,
        event_type: Annotated[str | None, QueryParameter(
            name="type", max_length=200, pattern=PLAIN_TEXT,
            description="an event type (`Order.Placed`) or an aggregate type (`Order`)",
            examples=[Example(value="Order.Placed")])] = None,
        correlation_id: Annotated[str | None, QueryParameter(max_length=200, pattern=PLAIN_TEXT)] = None,
        since: Annotated[str | None, QueryParameter(
            pattern=RFC3339, description="from this time on (inclusive), in RFC 3339; without an offset, UTC",
            examples=[Example(value="2025-03-01T00:00:00Z")])] = None,
        until: Annotated[str | None, QueryParameter(
            pattern=RFC3339, description="before this time (exclusive), in RFC 3339; without an offset, UTC")] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> AuditEventPage:
        page = audit_queries.events(context=context, aggregate_id=aggregate_id, event_type=event_type,
                                    correlation_id=correlation_id, since=moment("since", since),
                                    until=moment("until", until), cursor=cursor, limit=limit)
        return AuditEventPage(items=[audit_event(event) for event in page.items], next_cursor=page.next_cursor)

    @get("/streams/{aggregate_id:uuid}", operation_id="GetAuditStream", sync_to_thread=True,
         responses=STREAM_PAGE, raises=[NotFoundException], summary="One aggregate's events in version order")
    def get_stream(
        self, aggregate_id: FromPath[UUID], audit_queries: NamedDependency[AuditQueries], cursor: Cursor = None,
        limit: Limit = 50,
    ) -> AuditEventPage:
        page = audit_queries.stream(aggregate_id, cursor=cursor, limit=limit)
        if not page.items and cursor is None:
            raise NotFound("stream", aggregate_id)
        return AuditEventPage(items=[audit_event(event) for event in page.items], next_cursor=page.next_cursor)

    @get("/streams/{aggregate_id:uuid}/state", operation_id="GetAggregateStateAtVersion", sync_to_thread=True,
         responses=AGGREGATE_STATE, raises=[NotFoundException],
         summary="The aggregate as it was at a version, rebuilt from the event store, and what that version changed")
    def get_state(
        self,
        aggregate_id: FromPath[UUID],
        event_store_queries: NamedDependency[EventStoreQueries],
        version: Annotated[int | None, QueryParameter(
            ge=1, description="the version to show; the latest when left out", examples=[Example(value=1)])] = None,
    ) -> AggregateState:
        found = event_store_queries.aggregate_at(aggregate_id, version)
        if found is None:
            raise NotFound("aggregate", aggregate_id)
        return aggregate_state(found)

    @get("/trace/{correlation_id:str}", operation_id="GetAuditTrace", sync_to_thread=True, responses=TRACE_PAGE,
         raises=[NotFoundException],
         summary="Every event one order caused, across contexts, in time order, each linked to its cause")
    def get_trace(
        self, correlation_id: Annotated[str, Parameter(max_length=200, pattern=PLAIN_TEXT)],
        audit_queries: NamedDependency[AuditQueries], cursor: Cursor = None,
        limit: Limit = MAX_LIMIT,
    ) -> TracePage:
        page = audit_queries.trace(correlation_id, cursor=cursor, limit=limit)
        if not page.items and cursor is None:
            raise NotFound("trace", correlation_id)
        return TracePage(correlation_id=correlation_id, items=[traced_event(event) for event in page.items],
                         next_cursor=page.next_cursor)
