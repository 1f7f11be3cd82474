"""Supervision: keep long-running loops alive, each in its own thread, restarting a failed one with backoff.

One loop failing (a lost database connection, a conflict it gave up on, a bug) never stops the others; a
restarted loop resumes from its own persisted position, so restarting is always safe.
"""

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

class RestartRequested(Exception):
    """A loop asks to be started afresh at once (its configuration changed), not because it failed."""


Loop = Callable[[threading.Event], None]
"""Runs until the event is set (then returns) or until it fails (then raises)."""

INITIAL_BACKOFF_S = 0.2
MAX_BACKOFF_S = 10.0
HEALTHY_AFTER_S = 30.0
"""A run this long resets the backoff and the count of failures in a row."""
RECOVERED_AFTER_S = 5.0
"""A restarted loop running this long is no longer failing (readiness): a database restart fails every loop a few
times within a second; waiting HEALTHY_AFTER_S would keep a process that works again unready for half a minute."""


FAILING_AFTER = 3
"""Failures in a row, each after a short run, that make a loop "failing": one failed attempt is not a problem."""


@dataclass
class TaskState:
    name: str
    restarts: int = 0
    last_error: str | None = None
    running: bool = False
    started_at: float | None = None
    failures_in_a_row: int = 0
    """Failures since the loop last ran for HEALTHY_AFTER_S without failing."""

    def failing(self, now: float) -> bool:
        """Whether the loop keeps failing: FAILING_AFTER failures in a row and no run of RECOVERED_AFTER_S since."""
        healthy_now = self.running and self.started_at is not None and now - self.started_at >= RECOVERED_AFTER_S
        return self.failures_in_a_row >= FAILING_AFTER and not healthy_now


class Service(Protocol):
    """Something the loops need running around them (a lease heartbeat, a LISTEN connection): started before
    them, stopped after them."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Supervisor:
    tasks: dict[str, Loop]
    services: list[Service] = field(default_factory=list)
    closing: list[Callable[[], None]] = field(default_factory=list)
    """Called once the loops and services have stopped (closing the applications they used)."""
    stop_event: threading.Event = field(default_factory=threading.Event)
    states: dict[str, TaskState] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for service in self.services:
            service.start()
        for name, loop in self.tasks.items():
            self.states[name] = TaskState(name)
            thread = threading.Thread(target=self._keep_running, args=(name, loop), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 15.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for service in reversed(self.services):
            service.stop()
        for close in self.closing:
            close()

    def wait(self) -> None:
        """Block until stopped."""
        while not self.stop_event.wait(1.0):
            pass

    def _keep_running(self, name: str, loop: Loop) -> None:
        state = self.states[name]
        backoff = INITIAL_BACKOFF_S
        while not self.stop_event.is_set():
            state.running, state.started_at = True, time.monotonic()
            try:
                loop(self.stop_event)
            except RestartRequested as request:
                log.info("%s restarts: %s", name, request)
                state.restarts += 1
                continue
            except Exception as error:
                state.last_error = f"{type(error).__name__}: {error}"
                ran_well = time.monotonic() - (state.started_at or 0) > HEALTHY_AFTER_S
                state.failures_in_a_row = 1 if ran_well else state.failures_in_a_row + 1
                log.exception("%s failed; restarting in %.1f s", name, backoff)
            else:
                if self.stop_event.is_set():
                    break
                log.warning("%s returned without being stopped; restarting in %.1f s", name, backoff)
            finally:
                state.running = False
            if time.monotonic() - (state.started_at or 0) > HEALTHY_AFTER_S:
                backoff = INITIAL_BACKOFF_S  # it ran well for a while: this is a fresh failure, not a loop
            state.restarts += 1
            self.stop_event.wait(backoff * random.uniform(0.8, 1.2))
            backoff = min(MAX_BACKOFF_S, backoff * 2)


def select_names(names: list[str], only: list[str] | None) -> list[str]:
    """The loops named by `--only` (all without it); an unknown name stops the process with the valid ones."""
    if not only:
        return names
    unknown = set(only) - set(names)
    if unknown:
        raise SystemExit(f"unknown runner(s) {', '.join(sorted(unknown))}; choose from {', '.join(names)}")
    return [name for name in names if name in only]


def select_tasks(tasks: dict[str, Loop], only: list[str] | None) -> dict[str, Loop]:
    return {name: tasks[name] for name in select_names(list(tasks), only)}
