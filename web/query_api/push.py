"""Live push: WebSockets and Server-Sent Events fed from the broker's view-change messages.

Each query-API process subscribes once (for its whole life) to the view changes on its own private queue
(RabbitMQ: an exclusive queue; `logistics run`: the in-process broker it shares with the relay). The broker
calls back on its own thread; the change is parsed there and handed to the event loop with
``call_soon_threadsafe``, where the hub fans it out to the connections that follow it (see
``queries.push_hub``). A connection that cannot keep up is closed, never waited for.

No change is lost or repeated at the seams: a connection is shown the read model's document together with
the outbox id of its newest view message (one statement, see ``queries.push``), then starts following, then
reads from the outbox whatever committed between the two; from there on live changes at or below the highest
id already sent are skipped. An SSE client that reconnects with ``Last-Event-ID`` resumes the same way.

Authentication happens here rather than in the JWT middleware: a browser's WebSocket and EventSource cannot
send an Authorization header, so the token may also come as ``?token=`` or, on a WebSocket, as the first
message; and a refused WebSocket is closed with a code the client can read (4401, 4403, 4404) instead of a
failed handshake.
"""

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Final
from uuid import UUID

from litestar import Litestar, Request, WebSocket, get, websocket
from litestar.config.app import AppConfig
from litestar.di import NamedDependency
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    WebSocketDisconnect,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.plugins import InitPluginProtocol
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from litestar.status_codes import WS_1001_GOING_AWAY, WS_1011_INTERNAL_ERROR, WS_1013_TRY_AGAIN_LATER

from adapters.messaging import Message, MessageBroker, Subscription
from adapters.metrics import PUSH_CONNECTIONS
from composition.read_side import ReadSide
from domain.identity import Actor, Role
from queries.errors import NotFound
from queries.pagination import InvalidQuery
from queries.push import OrderSnapshot, PushQueries
from queries.push_hub import (
    DEFAULT_CAPACITY,
    FIREHOSE,
    PushHub,
    PushSubscriber,
    SubscriberDropped,
    ViewChange,
    parse_view_change,
    topic_of,
)
from web.auth import TokenRejected, presented_token, verify_token
from web.baseline import constant
from web.strict_input import MalformedJson, decode_plain_json

log = logging.getLogger(__name__)

BINDING_KEYS: Final = ("view.order.*", "view.shipment.*", "view.courier.*")
FINAL_STATUSES: Final = frozenset({"RECEIVED", "CANCELLED"})
PUSH_ROLES: Final = frozenset({Role.CUSTOMER, Role.ADMIN})

# Close codes: 4000 + the HTTP status the same refusal gets from the API, so clients handle both alike.
CLOSE_BAD_MESSAGE: Final = 4400
CLOSE_UNAUTHENTICATED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_NOT_FOUND: Final = 4404

MAX_FOLLOWED_ORDERS: Final = 200
MAX_FRAME_CHARS: Final = 4096
EVENT_ID: Final = re.compile(r"^[0-9]{0,18}$")
TOKEN_TEXT: Final = r"^[A-Za-z0-9._-]+$"
QUEUE_CHECK_S: Final = 1.0
CLOSE_TIMEOUT_S: Final = 5.0
# A close reason must fit in one control frame (123 bytes of UTF-8).
_MAX_REASON: Final = 120


# --------------------------------------------------------------------------------------------------------------
# The broker side


class PushFeed:
    """The process's one subscription to view changes, handed over to the loop that owns the hub."""

    def __init__(self, broker: MessageBroker, hub: PushHub, binding_keys: Sequence[str] = BINDING_KEYS,
                 queue_check_s: float = QUEUE_CHECK_S) -> None:
        self._broker = broker
        self._hub = hub
        self._binding_keys = tuple(binding_keys)
        self._queue_check_s = queue_check_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscription: Subscription | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.stopping = False

    async def start(self) -> None:
        self.stopping = False
        self._loop = asyncio.get_running_loop()
        # RabbitMQ's subscribe waits for the queue to be bound (so nothing published afterwards is missed);
        # that is blocking I/O, kept off the loop.
        self._subscription = await asyncio.to_thread(self._broker.subscribe, self._binding_keys, self._on_message)
        self._watcher = asyncio.create_task(self._watch_queue(), name="push-queue-watch")
        log.info("push: following %s", ", ".join(self._binding_keys))

    async def stop(self) -> None:
        self.stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        self._hub.close_all("server stopping; reconnect to resume")
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await asyncio.to_thread(subscription.close)
        self._loop = None

    async def _watch_queue(self) -> None:
        """Resynchronise every client when the private queue was replaced.

        An exclusive queue dies with its connection: what the relay published until the consumer reconnected
        (on a new queue) never reaches this process. The clients' streams would silently skip those changes, so
        they are all closed instead; reconnecting, they read what they missed from the read model or the outbox.
        Only a broker whose subscriptions name their queue (RabbitMQ) can lose messages like this.
        """
        last: object = getattr(self._subscription, "queue_name", None)
        while True:
            await asyncio.sleep(self._queue_check_s)
            current: object = getattr(self._subscription, "queue_name", None)
            if current is not None and last is not None and current != last:
                log.warning("push: the broker connection was replaced (queue %s -> %s); asking %d client(s) to "
                            "reconnect", last, current, len(self._hub))
                self._hub.close_all("the server's feed was interrupted; reconnect to resume")
            if current is not None:
                last = current

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def _on_message(self, message: Message) -> None:
        # Runs on the broker's thread: decode here, so the loop only does the fan-out.
        change = parse_view_change(message.routing_key, message.headers, message.body)
        loop = self._loop
        if change is None or loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._hub.publish, change)
        except RuntimeError:
            # The loop closed between the check and the call: the server is stopping and nobody listens.
            log.debug("push: loop closed; change %s not pushed", change.outbox_id)


# --------------------------------------------------------------------------------------------------------------
# Shared by both transports


@dataclass(frozen=True)
class PushContext:
    hub: PushHub
    queries: PushQueries
    feed: PushFeed
    secret: str
    appear_timeout_s: float = 5.0
    """How long to wait for an order the projector has not shown yet (a client that follows it right away)."""
    auth_timeout_s: float = 10.0
    ping_interval_s: float = 15.0


def may_see(actor: Actor, snapshot: OrderSnapshot) -> bool:
    return actor.role is Role.ADMIN or snapshot.customer_id == actor.subject


async def visible_snapshot(context: PushContext, order_id: UUID, actor: Actor) -> OrderSnapshot | None:
    """The order as this actor may see it, waiting a little for one placed a moment ago; None if not theirs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + context.appear_timeout_s
    delay = 0.02
    while True:
        snapshot = await asyncio.to_thread(context.queries.order_snapshot, order_id)
        # A document without a status holds another context's part of an order not placed (projected) yet.
        if snapshot is not None and snapshot.status is not None:
            return snapshot if may_see(actor, snapshot) else None
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


# --------------------------------------------------------------------------------------------------------------
# WebSocket


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _PushSession:
    """One WebSocket: what it follows and the highest outbox id it was sent per followed order."""

    def __init__(self, socket: WebSocket[Any, Any, Any], context: PushContext, actor: Actor,
                 subscriber: PushSubscriber) -> None:
        self._socket = socket
        self._context = context
        self._actor = actor
        self._subscriber = subscriber
        self._sent: dict[str, int] = {}
        self._firehose = False
        # Catching up on a newly followed order and forwarding live changes must not interleave, or a live
        # change could overtake older ones still being read from the outbox.
        self._sending = asyncio.Lock()

    async def follow_order(self, order_id: UUID) -> None:
        topic = topic_of("order", order_id)
        if topic not in self._sent and len(self._sent) >= MAX_FOLLOWED_ORDERS:
            raise _Refused(CLOSE_BAD_MESSAGE, f"at most {MAX_FOLLOWED_ORDERS} orders per connection")
        snapshot = await visible_snapshot(self._context, order_id, self._actor)
        if snapshot is None:
            raise _Refused(CLOSE_NOT_FOUND, f"order {order_id} not found")
        async with self._sending:
            await self._socket.send_text(json.dumps({
                "type": "view.order.snapshot", "view": "order", "entity_id": str(order_id),
                "outbox_id": snapshot.outbox_id, "data": snapshot.doc,
            }, separators=(",", ":")))
            self._sent[topic] = max(self._sent.get(topic, 0), snapshot.outbox_id)
            # Follow only after reading the snapshot, then read what committed in between from the outbox.
            self._subscriber.follow(topic)
            missed = await asyncio.to_thread(self._context.queries.order_changes, order_id, after=self._sent[topic])
            for change in missed:
                await self._forward(change)

    async def unfollow_order(self, order_id: UUID) -> None:
        topic = topic_of("order", order_id)
        self._sent.pop(topic, None)
        self._subscriber.unfollow(topic)
        await self._send_control({"type": "unsubscribed", "subscription": str(order_id)})

    async def follow_firehose(self) -> None:
        if self._actor.role is not Role.ADMIN:
            raise _Refused(CLOSE_FORBIDDEN, "the firehose needs the admin role")
        self._firehose = True
        self._subscriber.follow(FIREHOSE)
        await self._send_control({"type": "subscribed", "subscription": FIREHOSE})

    async def unfollow_firehose(self) -> None:
        self._firehose = False
        self._subscriber.unfollow(FIREHOSE)
        await self._send_control({"type": "unsubscribed", "subscription": FIREHOSE})

    async def pump(self) -> None:
        """Forward live changes until the hub drops this connection (raises SubscriberDropped)."""
        while True:
            change = await self._subscriber.get()
            async with self._sending:
                await self._forward(change)

    async def serve_commands(self) -> None:
        while True:
            command = _parse_command(await self._socket.receive_text())
            for verb, target in command.items():
                if target == FIREHOSE:
                    await (self.follow_firehose() if verb == "subscribe" else self.unfollow_firehose())
                else:
                    order_id = _order_id(target)
                    await (self.follow_order(order_id) if verb == "subscribe" else self.unfollow_order(order_id))

    async def _send_control(self, frame: dict[str, str]) -> None:
        async with self._sending:
            await self._socket.send_text(json.dumps(frame))

    async def _forward(self, change: ViewChange) -> None:
        topic = change.topic
        last = self._sent.get(topic)
        if last is not None:
            if change.outbox_id <= last:
                return  # already sent, by the catch-up or as part of the snapshot
            self._sent[topic] = change.outbox_id
        elif not self._firehose:
            return  # queued before the client unsubscribed
        await self._socket.send_text(change.frame)


def _decoded_frame(text: str) -> Any:
    """A client's frame as JSON; refused (4400) when it is not plain JSON or nests absurdly deep."""
    if len(text) > MAX_FRAME_CHARS:
        raise _Refused(CLOSE_BAD_MESSAGE, f"messages are at most {MAX_FRAME_CHARS} characters")
    try:
        return decode_plain_json(text)
    except MalformedJson as error:
        raise _Refused(CLOSE_BAD_MESSAGE, f"messages are plain JSON objects: {error}") from None


def _parse_command(text: str) -> dict[str, str]:
    command = _decoded_frame(text)
    if (not isinstance(command, dict) or not command or not set(command) <= {"subscribe", "unsubscribe"}
            or not all(isinstance(value, str) for value in command.values())):
        raise _Refused(CLOSE_BAD_MESSAGE, 'expected {"subscribe": "<order id>|*"} or {"unsubscribe": ...}')
    return command


def _order_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise _Refused(CLOSE_BAD_MESSAGE, f"not an order id: {text[:60]}") from None


async def _authenticate(socket: WebSocket[Any, Any, Any], context: PushContext, query_token: str | None) -> Actor:
    try:
        encoded = presented_token(socket, query_token)
        if encoded is None:
            try:
                first = await asyncio.wait_for(socket.receive_text(), context.auth_timeout_s)
            except TimeoutError:
                raise _Refused(CLOSE_UNAUTHENTICATED, 'no token: send {"token": "..."} first') from None
            message = _decoded_frame(first)
            if not isinstance(message, dict) or not isinstance(message.get("token"), str):
                raise _Refused(CLOSE_UNAUTHENTICATED, 'no token: send {"token": "..."} first')
            encoded = message["token"]
        actor = verify_token(encoded, context.secret).actor
    except TokenRejected as rejected:
        raise _Refused(CLOSE_UNAUTHENTICATED, str(rejected.detail)) from None
    if actor.role not in PUSH_ROLES:
        raise _Refused(CLOSE_FORBIDDEN, "push needs the customer or admin role")
    return actor


async def _wait_for_disconnect(socket: WebSocket[Any, Any, Any]) -> None:
    # Reading is how a disconnect is noticed; this endpoint takes no commands, so what arrives is ignored.
    while True:
        await socket.receive_text()


async def _raise_when_dropped(subscriber: PushSubscriber) -> None:
    # The pump notices a drop only between two sends; a client that stopped reading blocks it in the send.
    raise SubscriberDropped(await subscriber.wait_dropped())


async def _close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):  # the client may be gone already
        await socket.close(code, reason.encode()[:_MAX_REASON].decode(errors="ignore"))


async def _serve_socket(
    socket: WebSocket[Any, Any, Any], context: PushContext, query_token: str | None,
    start: Callable[[_PushSession], Awaitable[None]],
    listen: Callable[[_PushSession], Coroutine[Any, Any, None]],
) -> None:
    """Authenticate, run `start`, then forward changes while `listen` reads from the client, until either ends."""
    await socket.accept()
    try:
        actor = await _authenticate(socket, context, query_token)
        with context.hub.connect() as subscriber, PUSH_CONNECTIONS.labels(kind="websocket").track_inprogress():
            session = _PushSession(socket, context, actor, subscriber)
            await start(session)
            tasks = [asyncio.create_task(session.pump()), asyncio.create_task(listen(session)),
                     asyncio.create_task(_raise_when_dropped(subscriber))]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                if (error := task.exception()) is not None:
                    raise error
    except (WebSocketDisconnect, OSError):
        return  # the client left (or its connection broke); nothing to tell it
    except _Refused as refusal:
        await _close(socket, refusal.code, refusal.reason)
    except SubscriberDropped as dropped:
        code = WS_1001_GOING_AWAY if context.feed.stopping else WS_1013_TRY_AGAIN_LATER
        # A client too slow to read may be too slow to take the close frame as well; then leave it to the
        # server, which drops the connection once the handler has returned.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_close(socket, code, dropped.reason), CLOSE_TIMEOUT_S)
    except Exception:
        log.exception("push: WebSocket failed")
        await _close(socket, WS_1011_INTERNAL_ERROR, "internal error; reconnect")


async def _nothing(_: _PushSession) -> None:
    return None


@websocket("/ws/orders/{order_id:uuid}", exclude_from_auth=True, name="push-order")
async def order_socket(
    socket: WebSocket[Any, Any, Any],
    order_id: FromPath[UUID],
    push: NamedDependency[PushContext],
    token: Annotated[str | None, QueryParameter()] = None,
) -> None:
    """One order: its view on connect, then every change to it."""

    async def start(session: _PushSession) -> None:
        await session.follow_order(order_id)

    await _serve_socket(socket, push, token, start, lambda _: _wait_for_disconnect(socket))


@websocket("/ws", exclude_from_auth=True, name="push")
async def push_socket(
    socket: WebSocket[Any, Any, Any],
    push: NamedDependency[PushContext],
    token: Annotated[str | None, QueryParameter()] = None,
) -> None:
    """Several orders at once ({"subscribe"|"unsubscribe": "<order id>"}), or every view change ("*", admins)."""
    await _serve_socket(socket, push, token, _nothing, lambda session: session.serve_commands())


# --------------------------------------------------------------------------------------------------------------
# An order's status changes, whatever the transport (Server-Sent Events here, the gRPC face's stream)


@dataclass(frozen=True)
class StatusChange:
    """The order reached `status`; `outbox_id` is where, among its view changes (a client resumes after it)."""

    status: str
    outbox_id: int
    doc: Mapping[str, Any]
    """The order's document as of this change."""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class _StatusTracker:
    """Turns view changes into status changes: one per change of status, none for the view's other changes."""

    def __init__(self, last_id: int, last_status: str | None) -> None:
        self.last_id = last_id
        self.last_status = last_status

    @property
    def done(self) -> bool:
        return self.last_status in FINAL_STATUSES

    def record(self, status: str, outbox_id: int, doc: Mapping[str, Any]) -> StatusChange:
        self.last_status, self.last_id = status, max(self.last_id, outbox_id)
        return StatusChange(status, outbox_id, doc)

    def apply(self, change: ViewChange) -> StatusChange | None:
        if change.outbox_id <= self.last_id:
            return None  # sent already: the live feed repeats what the outbox catch-up read
        doc = change.data or {}
        status = doc.get("status")
        if isinstance(status, str) and status != self.last_status:
            return self.record(status, change.outbox_id, doc)
        self.last_id = change.outbox_id
        return None


async def order_status_changes(context: PushContext, order_id: UUID, snapshot: OrderSnapshot,
                               resume_after: int | None, *, kind: str,
                               idle_s: float | None = None) -> AsyncGenerator[StatusChange | None, None]:
    """The order's status now (or, resuming, every change after `resume_after`), then each change as it happens.

    Ends after a final status. Yields None whenever `idle_s` passes without a change (for keep-alives); raises
    SubscriberDropped when the hub lets go of the stream (too slow, or the server stops): the client resumes
    from the last outbox id it got. `kind` labels the open stream in the push-connections metric.
    """
    with context.hub.connect() as subscriber, PUSH_CONNECTIONS.labels(kind=kind).track_inprogress():
        if resume_after is None:
            tracker = _StatusTracker(0, None)
            yield tracker.record(snapshot.status or "", snapshot.outbox_id, snapshot.doc)
            after, including = snapshot.outbox_id, False
        else:
            tracker = _StatusTracker(resume_after, None)
            # The row the client saw last tells which status it knows, so that an unchanged one is not repeated.
            after, including = resume_after, True
        if tracker.done:
            return
        # Follow first, then read the outbox: whatever commits in between is in one or the other (or both).
        subscriber.follow(topic_of("order", order_id))
        missed = await asyncio.to_thread(context.queries.order_changes, order_id, after=after, including=including)
        if including and missed and missed[0].outbox_id == resume_after:
            known = (missed.pop(0).data or {}).get("status")
            tracker.last_status = known if isinstance(known, str) else None
        for change in missed:
            if (update := tracker.apply(change)) is not None:
                yield update
            if tracker.done:
                return
        if tracker.last_status is None and snapshot.status in FINAL_STATUSES and snapshot.outbox_id <= tracker.last_id:
            # Resumed past the end of an order whose rows the outbox no longer holds: nothing more will come.
            yield tracker.record(snapshot.status, snapshot.outbox_id, snapshot.doc)
            return
        while True:
            try:
                change = await asyncio.wait_for(subscriber.get(), idle_s)
            except TimeoutError:
                yield None
                continue
            if (update := tracker.apply(change)) is not None:
                yield update
            if tracker.done:
                return


# --------------------------------------------------------------------------------------------------------------
# Server-Sent Events, in the original gRPC gateway's format


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
    actor = verify_token(encoded, push.secret).actor
    if actor.role not in PUSH_ROLES:
        raise PermissionDeniedException("this needs the admin or customer role")
    resume = _last_event_id(last_event_id, resume_after)
    snapshot = await visible_snapshot(push, order_id, actor)
    if snapshot is None:
        raise NotFound("order", order_id)
    return ServerSentEvent(_status_stream(push, order_id, snapshot, resume))


# --------------------------------------------------------------------------------------------------------------
# Wiring

_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]+")
# uvicorn logs every WebSocket handshake with its query string (and HTTP requests, with access logs on).
_LOGGERS_WITH_PATHS = ("uvicorn.error", "uvicorn.access")


class RedactQueryTokens(logging.Filter):
    """Keeps `?token=` bearer tokens, which EventSource and browser WebSockets must use, out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True


def redact_query_tokens() -> None:
    for name in _LOGGERS_WITH_PATHS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactQueryTokens) for existing in logger.filters):
            logger.addFilter(RedactQueryTokens())



class PushPlugin(InitPluginProtocol):
    """The push endpoints, their shared context, and the broker subscription's lifespan."""

    def __init__(self, read: ReadSide, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.hub = PushHub(capacity=capacity)
        self.feed = PushFeed(read.broker, self.hub)
        self.context = PushContext(hub=self.hub, queries=PushQueries(read.pool), feed=self.feed,
                                   secret=read.settings.secret)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([order_socket, push_socket, order_status_stream])
        app_config.dependencies["push"] = constant(self.context)
        app_config.lifespan.append(self.feed.lifespan)
        redact_query_tokens()
        return app_config
