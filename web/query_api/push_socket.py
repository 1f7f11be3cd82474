"""The WebSocket push endpoints: who is connecting, serving a connection until it ends, and how it is closed.

A browser's WebSocket cannot send an Authorization header, so the token may also come as ``?token=`` or as the
first message, and it is checked here rather than by the JWT middleware; a refused connection is closed with a
code the client can read (4401, 4403, 4404) instead of a failed handshake. A connection that cannot keep up is
closed (1013, try again later), never waited for.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, Final
from uuid import UUID

from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import WS_1001_GOING_AWAY, WS_1011_INTERNAL_ERROR, WS_1013_TRY_AGAIN_LATER

from adapters.metrics import PUSH_CONNECTIONS
from domain.identity import Actor
from queries.push_hub import PushSubscriber, SubscriberDropped
from queries.push_positions import FLEET
from web.auth import TokenRejected, actor_from_token, presented_token
from web.query_api.push_context import PUSH_ROLES, PushContext
from web.query_api.push_socket_session import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    PushSession,
    SocketRefusal,
    decoded_frame,
)

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S: Final = 5.0
# A close reason must fit in one control frame (123 bytes of UTF-8).
_MAX_REASON: Final = 120


async def _authenticate(socket: WebSocket[Any, Any, Any], context: PushContext, query_token: str | None) -> Actor:
    try:
        encoded = presented_token(socket, query_token)
        if encoded is None:
            try:
                first = await asyncio.wait_for(socket.receive_text(), context.auth_timeout_s)
            except TimeoutError:
                raise SocketRefusal(CLOSE_UNAUTHENTICATED, 'no token: send {"token": "..."} first') from None
            message = decoded_frame(first)
            if not isinstance(message, dict) or not isinstance(message.get("token"), str):
                raise SocketRefusal(CLOSE_UNAUTHENTICATED, 'no token: send {"token": "..."} first')
            encoded = message["token"]
        actor = actor_from_token(context.secret, encoded)
    except TokenRejected as rejected:
        raise SocketRefusal(CLOSE_UNAUTHENTICATED, str(rejected.detail)) from None
    if actor.role not in PUSH_ROLES:
        raise SocketRefusal(CLOSE_FORBIDDEN, "push needs the customer or admin role")
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
    start: Callable[[PushSession], Awaitable[None]],
    listen: Callable[[PushSession], Coroutine[Any, Any, None]],
) -> None:
    """Authenticate, run `start`, then forward changes while `listen` reads from the client, until either ends."""
    await socket.accept()
    try:
        actor = await _authenticate(socket, context, query_token)
        with context.hub.connect(live=True) as subscriber, \
                PUSH_CONNECTIONS.labels(kind="websocket").track_inprogress():
            session = PushSession(socket, context, actor, subscriber)
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
    except SocketRefusal as refusal:
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


async def _nothing(_: PushSession) -> None:
    return None


@websocket("/ws/orders/{order_id:uuid}", exclude_from_auth=True, name="push-order")
async def order_socket(
    socket: WebSocket[Any, Any, Any],
    order_id: FromPath[UUID],
    push: NamedDependency[PushContext],
    token: Annotated[str | None, QueryParameter()] = None,
) -> None:
    """One order: its view on connect, then every change to it."""

    async def start(session: PushSession) -> None:
        await session.follow_order(order_id)

    await _serve_socket(socket, push, token, start, lambda _: _wait_for_disconnect(socket))


@websocket("/ws/fleet", exclude_from_auth=True, name="push-fleet")
async def fleet_socket(
    socket: WebSocket[Any, Any, Any],
    push: NamedDependency[PushContext],
    token: Annotated[str | None, QueryParameter()] = None,
) -> None:
    """Every courier that moved, at most twice a second (operators): the couriers map."""

    async def start(session: PushSession) -> None:
        await session.follow_live(FLEET)

    await _serve_socket(socket, push, token, start, lambda _: _wait_for_disconnect(socket))


@websocket("/ws", exclude_from_auth=True, name="push")
async def push_socket(
    socket: WebSocket[Any, Any, Any],
    push: NamedDependency[PushContext],
    token: Annotated[str | None, QueryParameter()] = None,
) -> None:
    """Several orders at once ({"subscribe"|"unsubscribe": "<order id>"}), every view change ("*", admins), the
    fleet ("fleet", admins) or one courier ("courier:<id>", admins)."""
    await _serve_socket(socket, push, token, _nothing, lambda session: session.serve_commands())
