"""The WebSockets of `logistics bench fleet`: customers' order pages and one operator's fleet socket.

They run on a thread and event loop of their own, so that a frame's arrival is stamped when it arrives and not
when the couriers' busy loop gets round to it. Each position a frame carries is noted with its courier, its `at`
and the arrival (wall clock); matching them to reports is `scripts.bench_fleet_figures`'s job.
"""

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from scripts.bench_fleet_figures import FrameSeen, Window, at_micros

log = logging.getLogger(__name__)

FLEET_TOPIC: Final = "fleet"
OPEN_ATTEMPTS: Final = 10
"""An order page may be opened before the query API projected its order (closed 4404): try again a few times."""
_RETRY_PAUSE_S: Final = 0.5
_QUEUE_FRAMES: Final = 4096


def fleet_subscription() -> str:
    """What the operator's client sends to follow the fleet (the push protocol's subscribe, topic "fleet")."""
    return json.dumps({"subscribe": FLEET_TOPIC})


def is_fleet_acknowledgement(frame: Any) -> bool:
    return isinstance(frame, dict) and frame.get("type") == "subscribed" and frame.get("subscription") == FLEET_TOPIC


def positions_in(frame: Any) -> list[tuple[str, str]]:
    """(courier id, at) of every position in a push frame: one in a "position" frame, many in a "fleet" one."""
    if not isinstance(frame, dict):
        return []
    if frame.get("type") == "position":
        entries: list[Any] = [frame]
    elif frame.get("type") == "fleet" and isinstance(frame.get("positions"), list):
        entries = frame["positions"]
    else:
        return []
    return [(entry["courier_id"], entry["at"]) for entry in entries
            if isinstance(entry, dict) and isinstance(entry.get("courier_id"), str)
            and isinstance(entry.get("at"), str)]


@dataclass
class _Watch:
    order_id: str
    courier_id: str
    started: float | None = None
    """When the order's snapshot arrived: from then on its courier's reports should come back."""
    ended: float | None = None


class PushWatchers:
    """K order pages at a time and one fleet socket, read on their own thread until `close`."""

    def __init__(self, query_url: str) -> None:
        self._base = query_url.replace("http://", "ws://", 1)
        self.order_frames: list[FrameSeen] = []
        self.fleet_frames: list[FrameSeen] = []
        self.fleet_since: float | None = None
        self.failures: list[str] = []
        self._watches: dict[str, _Watch] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._fleet_task: asyncio.Task[None] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-fleet-sockets", daemon=True)
        self._thread.start()

    @property
    def watching(self) -> int:
        """Order pages open or opening now."""
        return sum(1 for watch in self._watches.values() if watch.ended is None)

    def watch_fleet(self, admin_token: str, timeout_s: float = 15.0) -> None:
        """Open the operator's fleet socket; returns once the subscription is acknowledged (raises if refused)."""
        subscribed: Future[None] = Future()
        self._loop.call_soon_threadsafe(self._start_fleet, admin_token, subscribed)
        subscribed.result(timeout_s)

    def watch_order(self, order_id: str, courier_id: str, customer_token: str) -> None:
        """Open the customer's order page (without waiting for it): its courier's positions should arrive there."""
        self._watches[order_id] = _Watch(order_id, courier_id)
        self._loop.call_soon_threadsafe(self._start_order, order_id, customer_token)

    def stop_watching(self, order_id: str, after_s: float) -> None:
        """The order's courier stops carrying it now; its page closes `after_s` later (frames still on the way)."""
        watch = self._watches.get(order_id)
        if watch is not None and watch.ended is None:
            watch.ended = time.time()
            self._loop.call_soon_threadsafe(self._loop.call_later, after_s, self._cancel, order_id)

    def order_windows(self, run_end: float) -> list[Window]:
        return [Window(watch.courier_id, watch.started, run_end if watch.ended is None else watch.ended)
                for watch in self._watches.values() if watch.started is not None]

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [*self._tasks.values(), *([self._fleet_task] if self._fleet_task else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _start_fleet(self, token: str, subscribed: Future[None]) -> None:
        self._fleet_task = self._loop.create_task(self._follow_fleet(token, subscribed))

    def _start_order(self, order_id: str, token: str) -> None:
        self._tasks[order_id] = self._loop.create_task(self._follow_order(order_id, token))

    def _cancel(self, order_id: str) -> None:
        task = self._tasks.pop(order_id, None)
        if task is not None:
            task.cancel()

    async def _follow_fleet(self, token: str, subscribed: Future[None]) -> None:
        try:
            async with connect(f"{self._base}/ws?token={token}", proxy=None, max_queue=_QUEUE_FRAMES) as socket:
                await socket.send(fleet_subscription())
                while not subscribed.done():
                    frame = json.loads(await socket.recv())
                    if is_fleet_acknowledgement(frame):
                        self.fleet_since = time.time()
                        subscribed.set_result(None)
                    elif not positions_in(frame):  # a position before the acknowledgement is no answer
                        raise RuntimeError(f"the fleet subscription was answered with {str(frame)[:200]}")
                await self._read(socket, self.fleet_frames)
        except ConnectionClosed as closed:
            self._failed(subscribed, f"the fleet socket was closed: {_close_of(closed)}")
        except (OSError, RuntimeError, TimeoutError, ValueError) as error:
            self._failed(subscribed, f"the fleet socket failed: {type(error).__name__}: {error}")

    def _failed(self, subscribed: Future[None], message: str) -> None:
        if subscribed.done():
            self.failures.append(message)
        else:
            subscribed.set_exception(RuntimeError(message))

    async def _follow_order(self, order_id: str, token: str) -> None:
        try:
            await self._open_order(order_id, token)
        finally:
            watch = self._watches[order_id]
            if watch.ended is None:  # it failed, or the run ended: its place in the sample is free again
                watch.ended = time.time()

    async def _open_order(self, order_id: str, token: str) -> None:
        url = f"{self._base}/ws/orders/{order_id}?token={token}"
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            try:
                async with connect(url, proxy=None, max_queue=_QUEUE_FRAMES) as socket:
                    await socket.recv()  # the order's snapshot: the page is following it from here on
                    self._watches[order_id].started = time.time()
                    await self._read(socket, self.order_frames)
                    return
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 1006
                if self._watches[order_id].started is None and code == 4404 and attempt < OPEN_ATTEMPTS:
                    await asyncio.sleep(_RETRY_PAUSE_S)
                    continue
                self.failures.append(f"order page {order_id} was closed: {_close_of(closed)}")
                return
            except (OSError, TimeoutError, ValueError) as error:
                self.failures.append(f"order page {order_id} failed: {type(error).__name__}: {error}")
                return

    @staticmethod
    async def _read(socket: ClientConnection, into: list[FrameSeen]) -> None:
        async for text in socket:
            arrived = time.time()  # before decoding: decoding is the bench's cost, not the platform's
            for courier_id, at in positions_in(json.loads(text)):
                into.append(FrameSeen(courier_id, at_micros(at), arrived))


def _close_of(closed: ConnectionClosed) -> str:
    return f"{closed.rcvd.code} {closed.rcvd.reason}" if closed.rcvd else "without a close frame"
