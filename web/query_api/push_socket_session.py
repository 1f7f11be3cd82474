"""The WebSocket push protocol on one connection: the client's frames, what it follows, and what it is sent.

A client follows an order with ``{"subscribe": "<order id>"}`` (or every view change, admins, with ``"*"``) and
stops with ``{"unsubscribe": ...}``. It is sent the order's document with the outbox id of its newest view
message, then whatever committed since (read from the outbox), then the live changes; a live change at or below
the highest id already sent for its order is skipped, so none is lost or repeated at the seams. A followed
order also brings its courier's positions (``{"type": "position", ...}``) as they come. Admins may follow
``"fleet"`` (every courier that moved, ``{"type": "fleet", "positions": [...]}`` at most twice a second) and
``"courier:<id>"`` (one courier's positions). A refusal closes the connection with 4000 + the HTTP status the
same refusal gets from the API.
"""

import asyncio
import json
from typing import Any, Final
from uuid import UUID

from litestar import WebSocket

from domain.identity import Actor, Role
from queries.push_hub import FIREHOSE, PushItem, PushSubscriber, ViewChange, topic_of
from queries.push_positions import FLEET, LiveFrame, courier_topic
from web.query_api.push_context import PushContext, visible_snapshot
from web.strict_input import MalformedJson, decode_plain_json

# Close codes: 4000 + the HTTP status the same refusal gets from the API, so clients handle both alike.
CLOSE_BAD_MESSAGE: Final = 4400
CLOSE_UNAUTHENTICATED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_NOT_FOUND: Final = 4404

MAX_FOLLOWED_ORDERS: Final = 200
MAX_FRAME_CHARS: Final = 4096


class SocketRefusal(Exception):
    """The connection is closed with `code` and `reason`: the client asked for something it may not have."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class PushSession:
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
            raise SocketRefusal(CLOSE_BAD_MESSAGE, f"at most {MAX_FOLLOWED_ORDERS} orders per connection")
        snapshot = await visible_snapshot(self._context, order_id, self._actor)
        if snapshot is None:
            raise SocketRefusal(CLOSE_NOT_FOUND, f"order {order_id} not found")
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
            raise SocketRefusal(CLOSE_FORBIDDEN, "the firehose needs the admin role")
        self._firehose = True
        self._subscriber.follow(FIREHOSE)
        await self._send_control({"type": "subscribed", "subscription": FIREHOSE})

    async def unfollow_firehose(self) -> None:
        self._firehose = False
        self._subscriber.unfollow(FIREHOSE)
        await self._send_control({"type": "unsubscribed", "subscription": FIREHOSE})

    async def follow_live(self, topic: str) -> None:
        """The fleet, or one courier's positions: operators only (a customer sees its own order's courier)."""
        if self._actor.role is not Role.ADMIN:
            raise SocketRefusal(CLOSE_FORBIDDEN, f"{topic.split(':', 1)[0]} positions need the admin role")
        self._subscriber.follow(topic)
        await self._send_control({"type": "subscribed", "subscription": topic})

    async def unfollow_live(self, topic: str) -> None:
        self._subscriber.unfollow(topic)
        await self._send_control({"type": "unsubscribed", "subscription": topic})

    async def pump(self) -> None:
        """Forward live changes until the hub drops this connection (raises SubscriberDropped)."""
        while True:
            item = await self._subscriber.get_item()
            async with self._sending:
                await self._forward(item)

    async def serve_commands(self) -> None:
        while True:
            command = _parse_command(await self._socket.receive_text())
            for verb, target in command.items():
                if target == FIREHOSE:
                    await (self.follow_firehose() if verb == "subscribe" else self.unfollow_firehose())
                elif (live := _live_topic(target)) is not None:
                    await (self.follow_live(live) if verb == "subscribe" else self.unfollow_live(live))
                else:
                    order_id = _order_id(target)
                    await (self.follow_order(order_id) if verb == "subscribe" else self.unfollow_order(order_id))

    async def _send_control(self, frame: dict[str, str]) -> None:
        async with self._sending:
            await self._socket.send_text(json.dumps(frame))

    async def _forward(self, item: PushItem) -> None:
        if isinstance(item, LiveFrame):
            if item.topic in self._subscriber.topics:  # else queued before the client unsubscribed
                await self._socket.send_text(item.frame)
            return
        change: ViewChange = item
        topic = change.topic
        last = self._sent.get(topic)
        if last is not None:
            if change.outbox_id <= last:
                return  # already sent, by the catch-up or as part of the snapshot
            self._sent[topic] = change.outbox_id
        elif not self._firehose:
            return  # queued before the client unsubscribed
        await self._socket.send_text(change.frame)


def decoded_frame(text: str) -> Any:
    """A client's frame as JSON; refused (4400) when it is not plain JSON or nests absurdly deep."""
    if len(text) > MAX_FRAME_CHARS:
        raise SocketRefusal(CLOSE_BAD_MESSAGE, f"messages are at most {MAX_FRAME_CHARS} characters")
    try:
        return decode_plain_json(text)
    except MalformedJson as error:
        raise SocketRefusal(CLOSE_BAD_MESSAGE, f"messages are plain JSON objects: {error}") from None


def _parse_command(text: str) -> dict[str, str]:
    command = decoded_frame(text)
    if (not isinstance(command, dict) or not command or not set(command) <= {"subscribe", "unsubscribe"}
            or not all(isinstance(value, str) for value in command.values())):
        raise SocketRefusal(CLOSE_BAD_MESSAGE,
                            'expected {"subscribe": "<order id>|*|fleet|courier:<id>"} or {"unsubscribe": ...}')
    return command


def _live_topic(target: str) -> str | None:
    """`fleet`, or `courier:<id>` with the id made canonical (topics are matched as text); None for others."""
    if target == FLEET:
        return FLEET
    kind, colon, rest = target.partition(":")
    if kind != "courier" or not colon:
        return None
    try:
        return courier_topic(UUID(rest))
    except ValueError:
        raise SocketRefusal(CLOSE_BAD_MESSAGE, f"not a courier id: {rest[:60]}") from None


def _order_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise SocketRefusal(CLOSE_BAD_MESSAGE, f"not an order id: {text[:60]}") from None
