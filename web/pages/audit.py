"""The audit browser: the event log filtered and paged, one aggregate's stream stepped through version by
version (state and diff rebuilt from the event store), and one order's correlation trace across contexts. In a
stream and a trace, a run of route checkpoints is one collapsed, expandable line, so an order's story fits on a
screen however long its drive."""

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from adapters.event_store_reader import AggregateAt
from domain.identity import Role
from queries.audit import CONTEXTS, AuditEvent, TracedEvent, as_utc, collapse_checkpoints
from queries.pagination import MAX_LIMIT, InvalidQuery
from web.auth import requires
from web.pages.errors import PageNotFound
from web.pages.reads import PageReads, parse_uuid
from web.pages.rendering import render

STREAM_PAGE = 200
"""Events of one stream listed beside the slider; the slider itself reaches every version."""


def _moment(name: str, text: str | None) -> datetime | None:
    """A time from a `datetime-local` field (no zone: taken as UTC, the log's own zone) or a full ISO time."""
    if not text:
        return None
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise InvalidQuery(name, "must be a date and time such as 2026-01-31T14:05") from None


def _aggregate_at(pages: PageReads, aggregate_id: str, version: int | None) -> AggregateAt:
    parsed = parse_uuid(aggregate_id)
    at = pages.event_store.aggregate_at(parsed, version) if parsed else None
    if at is None:
        raise PageNotFound("stream")
    return at


def _stream_page(request: HTMXRequest, pages: PageReads, aggregate_id: str, version: int | None) -> Template:
    at = _aggregate_at(pages, aggregate_id, version)
    events = pages.audit.stream(at.aggregate_id, limit=STREAM_PAGE)
    return render(request, "operator/stream.html", fragment="operator/_state.html", at=at,
                  events=collapse_checkpoints(events.items, _itself), more_events=events.next_cursor is not None)


def _itself(event: AuditEvent) -> AuditEvent:
    return event


def _traced(traced: TracedEvent) -> AuditEvent:
    return traced.event


class AuditPages(Controller):
    path = "/ops/audit"
    include_in_schema = False
    guards = [requires(Role.ADMIN)]

    @get("/", sync_to_thread=True)
    def events(
        self, request: HTMXRequest, pages: NamedDependency[PageReads],
        context: Annotated[str | None, QueryParameter()] = None,
        type: Annotated[str | None, QueryParameter()] = None,
        aggregate_id: Annotated[str | None, QueryParameter()] = None,
        correlation_id: Annotated[str | None, QueryParameter()] = None,
        since: Annotated[str | None, QueryParameter()] = None,
        until: Annotated[str | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
        order: Annotated[str | None, QueryParameter()] = None,
    ) -> Template:
        # Newest first unless asked otherwise: after a while the recent events are what an operator looks for.
        oldest_first = order == "oldest"
        filters = {"context": context or "", "type": type or "", "aggregate_id": aggregate_id or "",
                   "correlation_id": correlation_id or "", "since": since or "", "until": until or "",
                   "limit": limit, "order": "oldest" if oldest_first else ""}
        aggregate = None
        if aggregate_id:
            aggregate = parse_uuid(aggregate_id.strip())
            if aggregate is None:
                raise InvalidQuery("aggregate_id", "must be a UUID")
        page = pages.audit.events(
            context=context or None, event_type=type or None, aggregate_id=aggregate,
            correlation_id=correlation_id or None, since=_moment("since", since), until=_moment("until", until),
            cursor=cursor or None, limit=limit, newest_first=not oldest_first)
        # The "more" link carries the filters and the next cursor; htmx swaps it for the next rows.
        more: dict[str, Any] = {key: value for key, value in filters.items() if value}
        flipped = {key: value for key, value in more.items() if key != "order"}
        if not oldest_first:
            flipped["order"] = "oldest"
        return render(request, "operator/audit.html", fragment="operator/_audit_rows.html",
                      events=page.items, next_cursor=page.next_cursor, filters=filters, more=more,
                      flipped=flipped, oldest_first=oldest_first, contexts=sorted(CONTEXTS))

    @get("/streams/{aggregate_id:str}", sync_to_thread=True)
    def stream(
        self, request: HTMXRequest, aggregate_id: FromPath[str], pages: NamedDependency[PageReads],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> Template:
        return _stream_page(request, pages, aggregate_id, version)

    @get("/streams/{aggregate_id:str}/state", sync_to_thread=True)
    def state(
        self, request: HTMXRequest, aggregate_id: FromPath[str], pages: NamedDependency[PageReads],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> Template:
        """The slider's fragment; without htmx, the stream page opened at that version."""
        return _stream_page(request, pages, aggregate_id, version)

    @get("/trace/{correlation_id:str}", sync_to_thread=True)
    def trace(
        self, request: HTMXRequest, correlation_id: FromPath[str], pages: NamedDependency[PageReads],
        cursor: Annotated[str | None, QueryParameter()] = None,
    ) -> Template:
        if not pages.audit.has_trace(correlation_id):
            raise PageNotFound("trace")
        page = pages.audit.trace(correlation_id, cursor=cursor or None, limit=MAX_LIMIT)
        return render(request, "operator/trace.html", fragment="operator/_trace_rows.html",
                      correlation_id=correlation_id, traced=collapse_checkpoints(page.items, _traced),
                      next_cursor=page.next_cursor,
                      # Every context gets its lane, so the lanes line up across "load more" pages.
                      contexts=sorted(CONTEXTS), order_id=parse_uuid(correlation_id))
