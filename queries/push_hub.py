"""Live push fan-out: which connection follows which view, and what happens to one that cannot keep up.

The hub holds no I/O. It is confined to one asyncio loop (the web server's); whoever receives view changes on
another thread hands them over with ``loop.call_soon_threadsafe(hub.publish, change)``. ``publish`` never awaits
and never blocks: every connection has a bounded queue, and a connection whose queue is full is dropped (told
why, and forgotten) rather than allowed to hold the others back or to pile up memory. A dropped client
reconnects and resumes from the read model (a fresh snapshot) or from the outbox (``Last-Event-ID``).

Couriers' live positions (``queries.push_positions``) go only to connections that asked for live frames, to the
courier's topic and the order it carries, and, coalesced, to the operators' ``fleet`` topic: ``publish_position``
gathers them and ``flush_fleet`` (called by the feed at most every half second) sends one frame of every courier
that moved. A live frame that does not fit a connection's queue is skipped, not a reason to drop it: the next
position replaces it.
"""

from __future__ import annotations

import json
import logging
from asyncio import Event, Queue, QueueEmpty, QueueFull
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from queries.push_positions import FLEET, CourierPosition, LiveFrame, courier_topic, fleet_frame

__all__ = [
    "DEFAULT_CAPACITY",
    "FIREHOSE",
    "HubStats",
    "PushHub",
    "PushItem",
    "PushSubscriber",
    "SubscriberDropped",
    "ViewChange",
    "parse_view_change",
    "topic_of",
]

log = logging.getLogger(__name__)

FIREHOSE = "*"
"""The topic that receives every view change (operators only; the web layer enforces that)."""

# Queue entries are shared references to one ViewChange per change, so a deep queue costs pointers, not copies;
# it is sized to ride out a burst (a busy admin firehose sees ~10 view changes per order) and no further.
DEFAULT_CAPACITY = 1024
# Bounds the duplicate filter's memory: entities whose last change is older than this many others are forgotten,
# and a redelivery that old is then passed through, which the connections' own outbox-id checks still catch.
_REMEMBERED_ENTITIES = 100_000
# Likewise for the newest position seen per courier (what keeps a late, older position from moving a marker back).
_REMEMBERED_COURIERS = 100_000


def topic_of(view: str, entity_id: object) -> str:
    return f"{view}:{entity_id}"


@dataclass(frozen=True)
class ViewChange:
    """One read-model document changed; ``frame`` is what a WebSocket client receives, encoded once for all."""

    outbox_id: int
    """The outbox row's id: the change's position among all view changes, increasing per entity."""
    view: str
    entity_id: str
    envelope: Mapping[str, Any]
    """The view message as published: ``{id, type, view, entity_id, caused_by, correlation_id, occurred_at, data}``."""
    frame: str = field(repr=False)

    @classmethod
    def from_envelope(cls, outbox_id: int, envelope: Mapping[str, Any]) -> ViewChange:
        view, entity_id = envelope.get("view"), envelope.get("entity_id")
        if not isinstance(view, str) or not isinstance(entity_id, str):
            raise ValueError("a view message names its view and entity_id")
        frame = json.dumps({**envelope, "outbox_id": outbox_id}, separators=(",", ":"))
        return cls(outbox_id=outbox_id, view=view, entity_id=entity_id, envelope=envelope, frame=frame)

    @property
    def topic(self) -> str:
        return topic_of(self.view, self.entity_id)

    @property
    def data(self) -> Mapping[str, Any] | None:
        """The document after the change; None when it was deleted."""
        data = self.envelope.get("data")
        return data if isinstance(data, Mapping) else None


def parse_view_change(routing_key: str, headers: Mapping[str, str | int], body: bytes) -> ViewChange | None:
    """A broker message as a view change; None (and a warning) for anything else, which no retry would fix."""
    if not routing_key.startswith("view."):
        return None
    outbox_id = headers.get("outbox-id")
    if isinstance(outbox_id, bool) or not isinstance(outbox_id, int):
        log.warning("view message %s without an outbox-id header; not pushed", routing_key)
        return None
    try:
        envelope = json.loads(body)
        if not isinstance(envelope, dict):
            raise ValueError("the body is not a JSON object")
        return ViewChange.from_envelope(outbox_id, envelope)
    except ValueError as error:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too
        log.warning("malformed view message %s (outbox id %s): %s; not pushed", routing_key, outbox_id, error)
        return None


class SubscriberDropped(Exception):
    """The hub let go of this connection; ``reason`` says why (too slow, server stopping)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


PushItem = ViewChange | LiveFrame
"""What a connection is handed: a view change, or (connections that asked for them) a live frame."""


class PushSubscriber:
    """One connection's inbox. Only the hub puts into it; only the connection takes from it."""

    def __init__(self, hub: PushHub, capacity: int, *, live: bool = False) -> None:
        self._hub = hub
        # None is the hub's "you were dropped" mark; it always fits, because the hub empties the queue first.
        self._queue: Queue[PushItem | None] = Queue(capacity)
        self.topics: set[str] = set()
        self.live = live
        """Whether it takes live frames (positions, the fleet) besides view changes."""
        self.drop_reason: str | None = None
        self._dropped = Event()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def get(self) -> ViewChange:
        """The next view change for this connection; raises SubscriberDropped once the hub has let go of it."""
        while not isinstance(item := await self.get_item(), ViewChange):
            continue  # a live frame: only a `live` subscriber is given any, and it reads them with get_item
        return item

    async def get_item(self) -> PushItem:
        """The next change or live frame; raises SubscriberDropped once the hub has let go of it."""
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # every later get() must fail the same way
            raise SubscriberDropped(self.drop_reason or "dropped")
        return item

    def get_nowait(self) -> ViewChange | None:
        """The next view change if one is waiting (for draining without awaiting); raises SubscriberDropped
        likewise."""
        while (item := self.get_item_nowait()) is not None:
            if isinstance(item, ViewChange):
                return item
        return None

    def get_item_nowait(self) -> PushItem | None:
        try:
            item = self._queue.get_nowait()
        except QueueEmpty:
            return None
        if item is None:
            self._queue.put_nowait(None)
            raise SubscriberDropped(self.drop_reason or "dropped")
        return item

    async def wait_dropped(self) -> str:
        """Returns (with the reason) once the hub has let go, even while the connection is stuck sending."""
        await self._dropped.wait()
        return self.drop_reason or "dropped"

    def follow(self, topic: str) -> None:
        self._hub.follow(self, topic)

    def unfollow(self, topic: str) -> None:
        self._hub.unfollow(self, topic)

    def close(self) -> None:
        self._hub.disconnect(self)

    def __enter__(self) -> PushSubscriber:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _offer(self, item: PushItem) -> bool:
        try:
            self._queue.put_nowait(item)
        except QueueFull:
            return False
        return True

    def _drop(self, reason: str) -> None:
        self.drop_reason = reason
        # What is queued will never be sent (the connection closes); emptying it makes room for the mark.
        while True:
            try:
                self._queue.get_nowait()
            except QueueEmpty:
                break
        self._queue.put_nowait(None)
        self._dropped.set()


@dataclass
class HubStats:
    received: int = 0
    duplicates: int = 0
    delivered: int = 0
    dropped: int = 0
    positions: int = 0
    stale_positions: int = 0
    """Positions older than one already seen for their courier: not pushed."""
    live_delivered: int = 0
    live_skipped: int = 0
    """Live frames a connection had no room for (it gets the next one)."""
    fleet_frames: int = 0


class PushHub:
    """Topic -> connections. Loop-confined: call every method from the loop that owns the hub."""

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY, remembered_entities: int = _REMEMBERED_ENTITIES,
                 remembered_couriers: int = _REMEMBERED_COURIERS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._remembered_entities = remembered_entities
        self._remembered_couriers = remembered_couriers
        self._followers: dict[str, set[PushSubscriber]] = {}
        self._subscribers: set[PushSubscriber] = set()
        # Highest outbox id seen per entity: a broker redelivery (after a reconnect) repeats ids, never skips.
        self._last_seen: OrderedDict[str, int] = OrderedDict()
        self._latest_positions: OrderedDict[str, CourierPosition] = OrderedDict()
        # Couriers that moved since the last fleet frame, each with its newest position.
        self._fleet_pending: dict[str, CourierPosition] = {}
        self.stats = HubStats()

    def __len__(self) -> int:
        return len(self._subscribers)

    def connect(self, topics: Iterable[str] = (), *, live: bool = False) -> PushSubscriber:
        """A new connection's inbox; `live` ones are also given positions and fleet frames of what they follow."""
        subscriber = PushSubscriber(self, self.capacity, live=live)
        self._subscribers.add(subscriber)
        for topic in topics:
            self.follow(subscriber, topic)
        return subscriber

    def follow(self, subscriber: PushSubscriber, topic: str) -> None:
        if subscriber not in self._subscribers:
            return  # dropped meanwhile: following would only collect changes nobody reads
        subscriber.topics.add(topic)
        self._followers.setdefault(topic, set()).add(subscriber)

    def unfollow(self, subscriber: PushSubscriber, topic: str) -> None:
        subscriber.topics.discard(topic)
        followers = self._followers.get(topic)
        if followers is not None:
            followers.discard(subscriber)
            if not followers:
                del self._followers[topic]

    def disconnect(self, subscriber: PushSubscriber) -> None:
        for topic in list(subscriber.topics):
            self.unfollow(subscriber, topic)
        self._subscribers.discard(subscriber)

    def followers(self, topic: str) -> int:
        return len(self._followers.get(topic, ()))

    def publish(self, change: ViewChange) -> int:
        """Hand the change to every connection that follows it; returns how many got it. Never blocks."""
        self.stats.received += 1
        if self._seen_before(change):
            self.stats.duplicates += 1
            return 0
        delivered = 0
        for subscriber in self._targets(change.topic):
            if subscriber._offer(change):
                delivered += 1
            else:
                self._drop(subscriber, f"too slow: {self.capacity} changes behind; reconnect to resume")
        self.stats.delivered += delivered
        return delivered

    def publish_position(self, position: CourierPosition) -> int:
        """Hand a courier's position to the live connections following the courier or the order it carries, and
        keep it for the next fleet frame; returns how many got it. An older position than the newest seen for
        its courier changes nothing."""
        self.stats.positions += 1
        if not self._is_newest(position):
            self.stats.stale_positions += 1
            return 0
        if self._followers.get(FLEET):
            self._fleet_pending[position.courier_id] = position
        own_topic = courier_topic(position.courier_id)
        order_topic = topic_of("order", position.order_id) if position.order_id is not None else None
        targets = set(self._followers.get(own_topic, ()))
        if order_topic is not None:
            targets |= self._followers.get(order_topic, set())
        if not targets:
            return 0
        frame = position.frame()
        delivered = 0
        for subscriber in targets:
            # Each connection is told under a topic it follows, so that it can tell the frame is still wanted.
            topic = own_topic if own_topic in subscriber.topics or order_topic is None else order_topic
            delivered += self._offer_live(subscriber, LiveFrame(topic, frame))
        return delivered

    @property
    def fleet_pending(self) -> bool:
        """Whether a fleet frame is due: some courier moved since the last one, and someone follows the fleet."""
        return bool(self._fleet_pending) and bool(self._followers.get(FLEET))

    def flush_fleet(self) -> int:
        """One fleet frame of every courier that moved since the last, to every live fleet follower."""
        pending, self._fleet_pending = self._fleet_pending, {}
        followers = self._followers.get(FLEET)
        if not pending or not followers:
            return 0
        frame = fleet_frame(pending.values())
        self.stats.fleet_frames += 1
        return sum(self._offer_live(subscriber, frame) for subscriber in list(followers))

    def close_all(self, reason: str) -> None:
        for subscriber in list(self._subscribers):
            self._drop(subscriber, reason)

    def _targets(self, topic: str) -> Iterator[PushSubscriber]:
        followers = self._followers.get(topic, set())
        firehose = self._followers.get(FIREHOSE, set())
        # A copy: dropping a subscriber while iterating changes these sets.
        yield from list((followers | firehose) if firehose else followers)

    def _seen_before(self, change: ViewChange) -> bool:
        topic = change.topic
        last = self._last_seen.get(topic)
        if last is not None and change.outbox_id <= last:
            return True
        self._last_seen[topic] = change.outbox_id
        self._last_seen.move_to_end(topic)
        while len(self._last_seen) > self._remembered_entities:
            self._last_seen.popitem(last=False)
        return False

    def _is_newest(self, position: CourierPosition) -> bool:
        known = self._latest_positions.get(position.courier_id)
        if known is not None and position.moment <= known.moment:
            return False
        self._latest_positions[position.courier_id] = position
        self._latest_positions.move_to_end(position.courier_id)
        while len(self._latest_positions) > self._remembered_couriers:
            self._latest_positions.popitem(last=False)
        return True

    def _offer_live(self, subscriber: PushSubscriber, frame: LiveFrame) -> int:
        if not subscriber.live:
            return 0
        if subscriber._offer(frame):
            self.stats.live_delivered += 1
            return 1
        self.stats.live_skipped += 1
        return 0

    def _drop(self, subscriber: PushSubscriber, reason: str) -> None:
        if subscriber not in self._subscribers:
            return
        log.info("push: dropping a connection (%s)", reason)
        self.stats.dropped += 1
        self.disconnect(subscriber)
        subscriber._drop(reason)
