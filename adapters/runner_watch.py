"""Watching a library projection runner from a supervised loop."""

import threading
import time
from collections.abc import Callable
from typing import Any

POLL_S = 0.5
# eventsourcing 9.5's subscription pulls once, then waits for a NOTIFY; an event committed between that first
# pull and the LISTEN taking effect would wait for the next write to its table, however long that takes. A
# pull every second bounds that wait (and any other lost wake-up) to a second, for one cheap query.
NUDGE_S = 1.0


class RunnerStopped(RuntimeError):
    pass


def watch(runner: Any, stop: threading.Event, every_poll: Callable[[], None] | None = None) -> None:
    """Return when `stop` is set; raise the runner's error, or RunnerStopped if its subscription ended."""
    last_nudge = time.monotonic()
    while not stop.is_set():
        runner.run_forever(timeout=POLL_S)  # re-raises the runner's error
        if runner.is_interrupted.is_set() and not stop.is_set():
            raise RunnerStopped("the subscription ended")
        if time.monotonic() - last_nudge >= NUDGE_S:
            last_nudge = time.monotonic()
            _nudge(runner)
        if every_poll is not None:
            every_poll()


def _nudge(runner: Any) -> None:
    # Private attributes of the library (9.5.x): a missing one only means no nudge, never an error.
    subscription = getattr(getattr(runner, "_subscription", None), "subscription", None)
    notified = getattr(subscription, "_has_been_notified", None)
    if isinstance(notified, threading.Event):
        notified.set()
