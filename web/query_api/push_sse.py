"""An order's status changes as Server-Sent Events, in the original gRPC gateway's format, resumable with
Last-Event-ID.

EventSource cannot send an Authorization header, so the token may also come as ``?token=``; it is checked here
rather than by the JWT middleware.
"""

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Final
from uuid import UUID

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from queries.errors import NotFound
from queries.pagination import InvalidQuery
from queries.push import OrderSnapshot
from queries.push_hub import SubscriberDropped
from web.auth import actor_from_token, presented_token
from web.query_api.push_context import PUSH_ROLES, PushContext, visible_snapshot
from web.query_api.push_status import StatusChange, order_status_changes

EVENT_ID: Final = re.compile(r"^[0-9]{0,18}$")
TOKEN_TEXT: Final = r"^[A-Za-z0-9._-]+$"


def _status_events(order_id: UUID, change: StatusChange) -> Iterator[ServerSentEventMessage]:
    # json.dumps' default separators give the gateway's exact `{"order_id": "...", "status": ...}` spacing.
    yield ServerSentEventMessage(id=change.outbox_id, data=json.dumps(
        {"order_id": str(order_id), "status": change.status, "message": f"order {change.status}"}))
    if change.final:
        yield ServerSentEventMessage(id=change.outbox_id, event="completed", data="stream closed")


async def _status_stream(context: PushContext, order_id: UUID, snapshot: OrderSnapshot,
                         resume_after: int | None) -> AsyncIterator[ServerSentEventMessage]:
    changes = order_status_changes(context, order_id, snapshot, resume_after, kind="sse",
                                   idle_s=context.ping_interval_s)
    async with contextlib.aclosing(changes):
        try:
            async for change in changes:
                if change is None:
                    # Keeps proxies from closing an idle stream; a comment is invisible to EventSource.
                    yield ServerSentEventMessage(data=None, comment="ping")
                    continue
                for message in _status_events(order_id, change):
                    yield message
        except SubscriberDropped:
            return  # too slow (or the server stops): the client reconnects with Last-Event-ID


def _last_event_id(header: str | None, query: str | None) -> int | None:
    """Where a resuming client left off; a malformed one is a bad parameter like any other (422)."""
    name, raw = ("Last-Event-ID", header) if header is not None else ("last_event_id", query)
    if raw is None or not raw.strip():
        return None
    if not EVENT_ID.match(raw.strip()):
        raise InvalidQuery(name, "must be an event id this stream sent (a whole number)")
    return int(raw)


@get("/api/orders/stream", exclude_from_auth=True, operation_id="StreamOrderStatus", tags=["orders", "push"],
     responses={200: ResponseSpec(str, media_type="text/event-stream", description="The status events")},
     raises=[NotFoundException],
     summary="An order's status changes as Server-Sent Events, resumable with Last-Event-ID",
     description="Events carry `{\"order_id\", \"status\", \"message\"}`; a final status (RECEIVED, CANCELLED) is "
                 "followed by `event: completed` and the end of the stream. Authenticate with the Authorization "
                 "header or `?token=` (EventSource cannot send headers).")
async def order_status_stream(
    request: Request[Any, Any, Any],
    push: NamedDependency[PushContext],
    order_id: Annotated[UUID, QueryParameter()],
    token: Annotated[str | None, QueryParameter(pattern=TOKEN_TEXT, description="the token, for EventSource")] = None,
    last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID", pattern=EVENT_ID.pattern)] = None,
    resume_after: Annotated[str | None, QueryParameter(name="last_event_id", pattern=EVENT_ID.pattern)] = None,
) -> ServerSentEvent:
    encoded = presented_token(request, token)
    if encoded is None:
        raise NotAuthorizedException("a bearer token is needed (Authorization header or ?token=)")
    actor = actor_from_token(push.secret, encoded)
    if actor.role not in PUSH_ROLES:
        raise PermissionDeniedException("this needs the admin or customer role")
    resume = _last_event_id(last_event_id, resume_after)
    snapshot = await visible_snapshot(push, order_id, actor)
    if snapshot is None:
        raise NotFound("order", order_id)
    return ServerSentEvent(_status_stream(push, order_id, snapshot, resume))
