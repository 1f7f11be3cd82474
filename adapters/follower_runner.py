"""Following one context's log in batches, for the partitions this process holds of one follower.

A follower (a saga step, a context's read models, the payment deadlines) is handed batches of up to
`BATCH_SIZE` events of the partitions it holds, each with its partition's tracking (`Orders#2`), and records
the batch's effects with those trackings and its lease fence in one transaction. A crash mid-batch leaves
nothing of it; a batch handed again (after a restart or a takeover) is refused by its tracking and changes
nothing. Partitions whose events the batch did not touch have their position written now and then anyway
(`advance`), so their recorded position follows the log instead of lagging at their last event. An event the
follower keeps failing on is parked and its aggregate's later events held behind it (`adapters.follower_parking`).
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from eventsourcing.persistence import Mapper, Tracking

from adapters.follower_leases import Fence, LeaseLost, LeaseManager
from adapters.follower_parking import FollowerParking, Item, decode, is_transient
from adapters.log_wakeups import POLL_S
from adapters.parked_events import NO_PARKING, ParkingChanges
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

    def handle(self, batch: Sequence[tuple[Any, Tracking]], fence: Fence, advance: Sequence[Tracking],
               parking: ParkingChanges = NO_PARKING) -> None:
        """Apply the events (in order) and record their trackings and `advance`, all or nothing, under `fence`,
        with `parking`'s changes. When `parking.retried` is set the events are parked ones processed again:
        their trackings are not recorded (the position moved past them when they were parked)."""
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
    parking: FollowerParking = field(init=False)

    def __post_init__(self) -> None:
        self.parking = FollowerParking(self.handler, self.log, self.mapper, self.log.pool,
                                       lambda partitions: self.leases.fence(self.handler.follower, partitions))

    def run(self, stop: threading.Event, every_poll: Callable[[], None] | None = None) -> None:
        """Follow until `stop` is set; raises on any database or processing error (the supervisor restarts)."""
        while not stop.is_set():
            held = self.leases.held(self.handler.follower)
            changed = self._follow_holdings(held)
            if held:
                self._work_on_parked(sorted(held), changed)
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

    def _follow_holdings(self, held: dict[int, int]) -> bool:
        """Forget partitions given up, read where new ones stand; says whether the holdings changed."""
        gone = [partition for partition in self.positions if partition not in held]
        for partition in gone:
            del self.positions[partition]
        fresh = [partition for partition in held if partition not in self.positions]
        if fresh:
            for partition, position in self.handler.tracked(fresh).items():
                self.positions[partition] = self._recorded[partition] = position
                self._persisted_at[partition] = time.monotonic()
        return bool(gone or fresh)

    def _work_on_parked(self, partitions: list[int], changed: bool) -> None:
        rows = self.parking.refresh(partitions, force=changed)
        if rows and self.parking.retry_requested(rows):
            self.parking.refresh(partitions, force=True)

    def _process(self, page: LogPage, held: dict[int, int]) -> None:
        items = [decode(self.mapper, self.handler.upstream, found) for found in page.notifications]
        reached = {partition: max(position, page.scanned_to) for partition, position in self.positions.items()}
        now = time.monotonic()
        if any(item.event is None for item in items):
            self.parking.isolate(items)
        else:
            self._record(items, reached, now)
        for item in items:
            self._recorded_at(item.tracking, now)
        self.positions.update(reached)

    def _record(self, items: Sequence[Item], reached: dict[int, int], now: float) -> None:
        blocked = self.parking.blocked
        batch = [(item.event, item.tracking) for item in items if item.aggregate_id not in blocked]
        held = [item for item in items if item.aggregate_id in blocked]
        touched = {item.notification.partition for item in items}
        # A partition's position moves past its held events too, in the same transaction as their rows.
        last = {item.notification.partition: item.tracking for item in items}
        in_batch = {partition_in(tracking.application_name) for _, tracking in batch}
        advance = [tracking for partition, tracking in sorted(last.items())
                   if partition not in in_batch or tracking.notification_id > max(
                       t.notification_id for _, t in batch if partition_in(t.application_name) == partition)]
        advance += [Tracking(tracking_name(self.handler.upstream, partition), reached[partition])
                    for partition in sorted(reached)
                    if partition not in touched and reached[partition] > self._recorded.get(partition, 0)
                    and now - self._persisted_at.get(partition, 0.0) >= self.persist_idle_s]
        if not batch and not advance:
            return
        fenced = touched | {partition_in(tracking.application_name) or 0 for tracking in advance}
        parking = ParkingChanges(park=[self.parking.held_behind(item) for item in held])
        try:
            self.handler.handle(batch, self.leases.fence(self.handler.follower, sorted(fenced)), advance, parking)
        except Exception as error:
            if is_transient(error) or not items:
                raise
            log.warning("%s: a batch of %d failed (%s); going through it one event at a time",
                        self.handler.follower, len(items), error)
            self.parking.isolate(items)
            return
        for tracking in advance:
            self._recorded_at(tracking, now)

    def _recorded_at(self, tracking: Tracking, now: float) -> None:
        partition = partition_in(tracking.application_name) or 0
        self._recorded[partition] = max(self._recorded.get(partition, 0), tracking.notification_id)
        self._persisted_at[partition] = now
