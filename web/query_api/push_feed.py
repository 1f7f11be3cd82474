"""The process's one subscription to the broker's view changes, handed over to the event loop that owns the hub.

Each query-API process subscribes once (for its whole life) to the view changes on its own private queue
(RabbitMQ: an exclusive queue; `logistics run`: the in-process broker it shares with the relay). The broker
calls back on its own thread; the change is parsed there and handed to the event loop with
``call_soon_threadsafe``, where the hub fans it out to the connections that follow it (see
``queries.push_hub``). The query API's feed also takes the couriers' positions (``POSITION_BINDING``), and
paces the hub's fleet frames: the first position after a quiet spell goes out at once, later ones wait for the
next half-second slot, gathered into one frame.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Final, TypeVar

from litestar import Litestar

from adapters.messaging import Message, MessageBroker, Subscription
from queries.push_hub import PushHub, parse_view_change
from queries.push_positions import POSITION_KEY_PREFIX, CourierPosition, parse_position

log = logging.getLogger(__name__)
T = TypeVar("T")

BINDING_KEYS: Final = ("view.order.*", "view.shipment.*", "view.courier.*")
POSITION_BINDING: Final = f"{POSITION_KEY_PREFIX}*"
QUEUE_CHECK_S: Final = 1.0
FLEET_INTERVAL_S: Final = 0.5
"""At most one fleet frame per this many seconds, holding every courier that moved."""


class PushFeed:
    """The process's one subscription to view changes, handed over to the loop that owns the hub."""

    def __init__(self, broker: MessageBroker, hub: PushHub, binding_keys: Sequence[str] = BINDING_KEYS,
                 queue_check_s: float = QUEUE_CHECK_S, fleet_interval_s: float = FLEET_INTERVAL_S) -> None:
        self._broker = broker
        self._hub = hub
        self._binding_keys = tuple(binding_keys)
        self._queue_check_s = queue_check_s
        self._fleet_interval_s = fleet_interval_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscription: Subscription | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._fleet_timer: asyncio.TimerHandle | None = None
        self._last_fleet_frame = float("-inf")
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
        if self._fleet_timer is not None:
            self._fleet_timer.cancel()
            self._fleet_timer = None
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
        loop = self._loop
        if message.routing_key.startswith(POSITION_KEY_PREFIX):
            position = parse_position(message.routing_key, message.body)
            if position is not None and loop is not None:
                self._hand_over(loop, self._on_position, position)
            return
        change = parse_view_change(message.routing_key, message.headers, message.body)
        if change is not None and loop is not None:
            self._hand_over(loop, self._hub.publish, change)

    @staticmethod
    def _hand_over(loop: asyncio.AbstractEventLoop, callback: Callable[[T], object], item: T) -> None:
        try:
            loop.call_soon_threadsafe(callback, item)
        except RuntimeError:
            # The loop closed between the check and the call: the server is stopping and nobody listens.
            log.debug("push: loop closed; %r not pushed", item)

    def _on_position(self, position: CourierPosition) -> None:
        """On the loop: fan the position out now, and see that a fleet frame follows within the interval."""
        self._hub.publish_position(position)
        if self._fleet_timer is not None or not self._hub.fleet_pending or self._loop is None:
            return
        delay = max(0.0, self._last_fleet_frame + self._fleet_interval_s - self._loop.time())
        self._fleet_timer = self._loop.call_later(delay, self._send_fleet_frame)

    def _send_fleet_frame(self) -> None:
        self._fleet_timer = None
        if self._loop is not None:
            self._last_fleet_frame = self._loop.time()
        self._hub.flush_fleet()
