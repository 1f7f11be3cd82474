"""Real push clients for tests and benchmarks: a WebSocket client (websockets) and an SSE client (httpx)."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.waiting import eventually


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


def open_socket(url: str) -> ClientConnection:
    # proxy=None: a proxy configured in the environment must not sit between a test and its own server.
    # legacy=True: the connection is returned as it is, for callers that hold it beyond one `with` block.
    return connect(url, open_timeout=10, close_timeout=5, proxy=None, legacy=True)


def close_of(socket: ClientConnection, limit_s: float = 15.0) -> tuple[int, str]:
    """Read until the server closes; the close code and reason it gave."""
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            socket.recv(timeout=max(0.1, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        received = closed.rcvd
    except TimeoutError:
        received = None
    else:
        received = None
    if received is None:
        raise AssertionError(f"the server did not close the connection with a reason within {limit_s} s")
    return received.code, received.reason


def status_of(frame: dict[str, Any], order_id: str) -> str | None:
    if frame.get("view") != "order" or frame.get("entity_id") != order_id:
        return None
    status = (frame.get("data") or {}).get("status")
    return status if isinstance(status, str) else None


def distinct_in_order(values: list[str]) -> list[str]:
    """Consecutive repeats removed: the view changes more often than the status does."""
    return [value for index, value in enumerate(values) if index == 0 or values[index - 1] != value]


class SocketFollower:
    """Collects every frame of a WebSocket on a thread, until the server closes it or `stop`."""

    def __init__(self, url: str, first_message: dict[str, Any] | None = None) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self._socket = open_socket(url)
        if first_message is not None:
            self._socket.send(json.dumps(first_message))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ws-follower", daemon=True)
        self._thread.start()

    def send(self, message: dict[str, Any]) -> None:
        self._socket.send(json.dumps(message))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                text = self._socket.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                self.closed = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
                return
            with self._lock:
                self.frames.append(json.loads(text))

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.frames)

    def statuses(self, order_id: str) -> list[str]:
        return distinct_in_order([s for frame in self.snapshot() if (s := status_of(frame, order_id))])

    def wait_until(self, done: Callable[[list[dict[str, Any]]], bool], limit_s: float = 60.0) -> None:
        def seen() -> bool:
            if done(self.snapshot()):
                return True
            assert self.closed is None, f"the server closed the socket: {self.closed}"
            return False

        eventually(seen, timeout=limit_s, what="the frames awaited",
                   explain=lambda: f"last frames: {self.snapshot()[-5:]}")

    def wait_for_status(self, order_id: str, status: str, limit_s: float = 60.0) -> None:
        self.wait_until(lambda frames: any(status_of(frame, order_id) == status for frame in frames), limit_s)

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(10)

    def __enter__(self) -> "SocketFollower":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str | None
    data: str

    @property
    def json(self) -> Any:
        return json.loads(self.data)


def sse_events(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Events as an EventSource parses them; comments (pings) are skipped."""
    event_id: str | None = None
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data or event is not None:
                yield SseEvent(event_id, event, "\n".join(data))
            event_id, event, data = None, None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)


class StreamFollower:
    """Reads an SSE stream on a thread until it ends, or until `close` hangs up on it."""

    def __init__(self, base_url: str, params: dict[str, str], headers: dict[str, str] | None = None) -> None:
        self.events: list[SseEvent] = []
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self.status_code: int | None = None
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10, read=60), trust_env=False)
        self._params = params
        self._headers = headers or {}
        self._thread = threading.Thread(target=self._run, name="sse-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._http.stream("GET", "/api/orders/stream", params=self._params, headers=self._headers) as answer:
                self.status_code = answer.status_code
                for event in sse_events(answer.iter_lines()):
                    with self._lock:
                        self.events.append(event)
        except BaseException as error:  # handed over to the test thread, which reports it
            self.error = error
        finally:
            self.ended.set()

    def snapshot(self) -> list[SseEvent]:
        with self._lock:
            return list(self.events)

    def statuses(self) -> list[str]:
        return [event.json["status"] for event in self.snapshot() if event.event is None]

    def wait_for_status(self, status: str, limit_s: float = 60.0) -> None:
        def streamed() -> bool:
            if status in self.statuses():
                return True
            assert not self.ended.is_set() or status in self.statuses(), \
                f"the stream ended ({self.status_code}, {self.error!r}) before {status}: {self.snapshot()}"
            return False

        eventually(streamed, timeout=limit_s, what=f"{status} streamed", explain=lambda: f"events: {self.snapshot()}")

    def wait_until_ended(self, limit_s: float = 60.0) -> list[SseEvent]:
        assert self.ended.wait(limit_s), f"the stream did not end within {limit_s} s: {self.snapshot()}"
        return self.snapshot()

    def close(self) -> None:
        # Closing the client from here breaks the thread's blocked read: the connection is gone, as for a
        # browser tab that was closed.
        self._http.close()
        self._thread.join(10)

    def __enter__(self) -> "StreamFollower":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
