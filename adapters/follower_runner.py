"""Following one context's log in batches, for the partitions this process holds of one follower.

A follower (a saga step, a context's read models, the payment deadlines) is handed batches of up to
`BATCH_SIZE` events of the partitions it holds, each with its partition's tracking (`Orders#2`), and records
the batch's effects with those trackings and its lease fence in one transaction. A crash mid-batch leaves
nothing of it; a batch handed again (after a restart or a takeover) is refused by its tracking and changes
nothing. Partitions whose events the batch did not touch have their position written now and then anyway
(`advance`), so their recorded position follows the log instead of lagging at their last event.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from eventsourcing.persistence import Mapper, Tracking

from adapters.follower_leases import Fence, LeaseLost, LeaseManager
from adapters.log_wakeups import POLL_S
from adapters.partitioned_log import LogPage, PartitionedLog
from projections.partitions import partition_in, tracking_name

log = logging.getLogger(__name__)

BATCH_SIZE: Final = 200
PERSIST_IDLE_S: Final = 5.0
"""How often a partition with nothing to do has its position written (for `status`, and a quick restart)."""


class FollowerHandler(Protocol):
    """What a follower does with a batch; it records everything in one transaction, fenced."""

    follower: str
    """The follower's name in the lease table, e.g. `saga:orders-to-inventory`."""
    upstream: str
    """The application whose log it follows, e.g. `Orders`."""

    def tracked(self, partitions: Sequence[int]) -> dict[int, int]:
        """The recorded position of each partition (0 for one never recorded)."""
        ...

    def handle(self, batch: Sequence[tuple[Any, Tracking]], fence: Fence, advance: Sequence[Tracking]) -> None:
        """Apply the events (in order) and record their trackings and `advance`, all or nothing, under `fence`."""
        ...


@dataclass
class FollowerRunner:
    handler: FollowerHandler
    log: PartitionedLog
    mapper: Mapper[Any]
    leases: LeaseManager
    wakeup: threading.Event
    batch_size: int = BATCH_SIZE
    persist_idle_s: float = PERSIST_IDLE_S
    positions: dict[int, int] = field(default_factory=dict)
    """In memory: how far each held partition has been read (processed, or seen to hold nothing)."""
    _recorded: dict[int, int] = field(default_factory=dict)
    _persisted_at: dict[int, float] = field(default_factory=dict)

    def run(self, stop: threading.Event, every_poll: Callable[[], None] | None = None) -> None:
        """Follow until `stop` is set; raises on any database or processing error (the supervisor restarts)."""
        while not stop.is_set():
            held = self.leases.held(self.handler.follower)
            self._follow_holdings(held)
            if not held:
                self.leases.changed.wait(POLL_S)
                self.leases.changed.clear()
                continue
            self.wakeup.clear()
            page = self.log.read(self.positions, self.batch_size)
            try:
                self._process(page, held)
            except LeaseLost as lost:
                log.info("%s", lost)
                self.positions.clear()  # re-read from the tracking tables under the new holdings
                continue
            if len(page.notifications) == self.batch_size:
                continue  # more are waiting
            if every_poll is not None:
                every_poll()
            self.wakeup.wait(POLL_S)

    def _follow_holdings(self, held: dict[int, int]) -> None:
        for partition in [partition for partition in self.positions if partition not in held]:
            del self.positions[partition]
        fresh = [partition for partition in held if partition not in self.positions]
        if fresh:
            for partition, position in self.handler.tracked(fresh).items():
                self.positions[partition] = self._recorded[partition] = position
                self._persisted_at[partition] = time.monotonic()

    def _process(self, page: LogPage, held: dict[int, int]) -> None:
        batch: list[tuple[Any, Tracking]] = []
        reached = {partition: max(position, page.scanned_to) for partition, position in self.positions.items()}
        touched: set[int] = set()
        for item in page.notifications:
            event = self.mapper.to_domain_event(item.notification)
            batch.append((event, Tracking(tracking_name(self.handler.upstream, item.partition), item.notification.id)))
            touched.add(item.partition)
        now = time.monotonic()
        advance = [Tracking(tracking_name(self.handler.upstream, partition), reached[partition])
                   for partition in sorted(reached)
                   if partition not in touched and reached[partition] > self._recorded.get(partition, 0)
                   and now - self._persisted_at.get(partition, 0.0) >= self.persist_idle_s]
        if batch or advance:
            fenced = touched | {partition_in(tracking.application_name) or 0 for tracking in advance}
            self.handler.handle(batch, self.leases.fence(self.handler.follower, sorted(fenced)), advance)
            for event_tracking in (*[tracking for _, tracking in batch], *advance):
                partition = partition_in(event_tracking.application_name) or 0
                self._recorded[partition] = max(self._recorded.get(partition, 0), event_tracking.notification_id)
                self._persisted_at[partition] = now
        self.positions.update(reached)
