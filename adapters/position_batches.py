"""Group commit: many callers' small reads and writes, gathered for a few milliseconds, done in one round trip
each on one thread, while the callers' coroutines wait (an event loop never blocks on the database).

Two thousand couriers reporting every second would be two thousand transactions a second, one at a time; here
whatever arrives within `window_s` of the first job of a batch (and while the previous batch commits) shares
one statement per kind and one transaction. A caller is answered only after its batch committed: a write that
returned is stored. A batch that fails fails every caller in it, with the database's error (an API answers
503); one whose connection turned out dead is tried once more on a fresh one first.
"""

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg import Connection
from psycopg.rows import DictRow

log = logging.getLogger(__name__)

K = TypeVar("K")
R = TypeVar("R")
W = TypeVar("W")

WINDOW_S: Final = 0.005
MAX_BATCH: Final = 2000
_STOP: Final = object()

Connect = Callable[[], AbstractContextManager[Connection[DictRow]]]


@dataclass(eq=False)
class _Job:
    reading: bool
    item: Any
    loop: asyncio.AbstractEventLoop
    future: "asyncio.Future[Any]"


@dataclass
class BatchStats:
    """What the committer has done, for measurements and tests."""

    batches: int = 0
    reads: int = 0
    writes: int = 0
    largest: int = 0


class GroupCommitter(Generic[K, R, W]):
    """`read_many(connection, keys)` answers many reads with one statement, `write_many(connection, items)`
    stores many writes in the open transaction; each is given a whole batch's worth at a time."""

    def __init__(self, connect: Connect, read_many: Callable[[Connection[DictRow], Sequence[K]], dict[K, R]],
                 write_many: Callable[[Connection[DictRow], Sequence[W]], None], *, name: str,
                 window_s: float = WINDOW_S, max_batch: int = MAX_BATCH) -> None:
        self._connect = connect
        self._read_many = read_many
        self._write_many = write_many
        self._name = name
        self._window_s = window_s
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.stats = BatchStats()

    async def read(self, key: K) -> R | None:
        """What `read_many` answered for `key` (None: nothing), once its batch has been read."""
        result: R | None = await self._submit(True, key)
        return result

    async def write(self, item: W) -> None:
        """Returns once the batch holding `item` has committed."""
        await self._submit(False, item)

    async def _submit(self, reading: bool, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._jobs.put(_Job(reading, item, loop, future))
        return await future

    def close(self, timeout: float = 10.0) -> None:
        """Finish the jobs already handed over, then stop."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._jobs.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._window_s
            while len(batch) < self._max_batch:
                try:
                    job = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                batch.append(job)
            self._handle([job for job in batch if isinstance(job, _Job)])

    def _handle(self, batch: list[_Job]) -> None:
        reads = [job for job in batch if job.reading]
        writes = [job for job in batch if not job.reading]
        try:
            answers = self._on_live_connection(reads, writes)
        except Exception as error:
            log.warning("%s: a batch of %d reads and %d writes failed: %r", self._name, len(reads), len(writes),
                        error)
            for job in batch:
                _settle(job, error=error)
            return
        self.stats.batches += 1
        self.stats.reads += len(reads)
        self.stats.writes += len(writes)
        self.stats.largest = max(self.stats.largest, len(batch))
        for job in reads:
            _settle(job, answers.get(job.item))
        for job in writes:
            _settle(job, None)

    def _on_live_connection(self, reads: list[_Job], writes: list[_Job]) -> dict[Any, Any]:
        try:
            return self._once(reads, writes)
        except (OperationalError, InterfaceError):
            # A pooled connection that died with a database restart fails first; the pool replaces it. Both
            # kinds of work may run twice: reads change nothing, and the writes are idempotent upserts.
            return self._once(reads, writes)

    def _once(self, reads: list[_Job], writes: list[_Job]) -> dict[Any, Any]:
        answers: dict[Any, Any] = {}
        with self._connect() as connection:
            if reads:
                answers = self._read_many(connection, list(dict.fromkeys(job.item for job in reads)))
            if writes:
                with connection.transaction():
                    self._write_many(connection, [job.item for job in writes])
        return answers


def _settle(job: _Job, result: Any = None, error: BaseException | None = None) -> None:
    def settle() -> None:
        if job.future.done():
            return  # the caller gave up waiting (its request was cancelled)
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    # A caller's event loop that has closed has nobody waiting on it any more.
    with contextlib.suppress(RuntimeError):
        job.loop.call_soon_threadsafe(settle)
