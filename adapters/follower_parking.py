"""A follower's way past a poison event: find it, try it a few times, park it, hold its aggregate's later events.

When a batch fails with an error that is not the infrastructure's (a reducer's bug, an event the code cannot
decode or did not expect), the follower goes through the batch one event at a time: the good ones are
recorded as usual, the failing one is tried `PARK_AFTER_ATTEMPTS` times with backoff and then parked with its
position, and any later event of a parked aggregate is held behind it. Errors of the infrastructure (a lost
connection, a lost lease, a conflict) are never parked: they propagate, and the supervisor restarts the loop.

The same helper processes what an operator asked to retry (and what was held behind a resolved event), with
the current code, in log order per aggregate, fenced by the partition's lease like any batch.
"""

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from uuid import UUID

import psycopg
from eventsourcing import persistence
from eventsourcing.persistence import Mapper, Tracking
from psycopg_pool import ConnectionPool, PoolTimeout

from adapters.follower_leases import Fence, LeaseLost
from adapters.parked_events import PARK_AFTER_ATTEMPTS, Failure, Parking, ParkingChanges, actionable
from adapters.partitioned_log import PartitionedLog, PartitionedNotification
from commands.errors import ConcurrencyConflict
from projections.partitions import tracking_name
from queries.parked import ParkedEvent, ParkedStatus, unresolved

log = logging.getLogger(__name__)

REFRESH_S: Final = 1.0
"""How often a follower looks for an operator's retries and skips (its own parking it knows at once)."""

TRANSIENT: Final = (
    LeaseLost, PoolTimeout, ConcurrencyConflict, OSError,
    persistence.OperationalError, persistence.InterfaceError, persistence.InternalError,
    persistence.ProgrammingError, persistence.IntegrityError,
    psycopg.OperationalError, psycopg.InterfaceError, psycopg.InternalError, psycopg.ProgrammingError,
    psycopg.IntegrityError,
)
"""The infrastructure's errors: retried for as long as they last, never a reason to park an event."""


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT)


class ParkingHandler(Protocol):
    follower: str
    upstream: str

    def handle(self, batch: Sequence[tuple[Any, Tracking]], fence: Fence, advance: Sequence[Tracking],
               parking: ParkingChanges = ...) -> None: ...


@dataclass(frozen=True)
class Item:
    """One notification of a page, decoded (or not: `error` says why)."""

    notification: PartitionedNotification
    tracking: Tracking
    event: Any | None
    error: BaseException | None = None

    @property
    def aggregate_id(self) -> UUID:
        return UUID(str(self.notification.notification.originator_id))


def decode(mapper: Mapper[Any], upstream: str, found: PartitionedNotification) -> Item:
    tracking = Tracking(tracking_name(upstream, found.partition), found.notification.id)
    try:
        return Item(found, tracking, mapper.to_domain_event(found.notification))
    except Exception as error:  # an event this code cannot read is a poison event like any other
        return Item(found, tracking, None, error)


@dataclass
class FollowerParking:
    handler: ParkingHandler
    log: PartitionedLog
    mapper: Mapper[Any]
    pool: ConnectionPool[Any]
    fence: Callable[[Sequence[int]], Fence]
    attempts: int = PARK_AFTER_ATTEMPTS
    backoff_s: float = 0.2
    blocked: set[UUID] = field(default_factory=set)
    """Aggregates with an unresolved parked event: their later events are held, not processed."""
    _refreshed_at: float = float("-inf")

    def refresh(self, partitions: Sequence[int], force: bool = False) -> list[ParkedEvent]:
        """The unresolved rows of these partitions (read at most every `REFRESH_S` unless `force`)."""
        if not force and time.monotonic() - self._refreshed_at < REFRESH_S:
            return []
        self._refreshed_at = time.monotonic()
        with self.pool.connection() as connection:
            rows = unresolved(connection, self.handler.follower, partitions)
        self.blocked = {row.originator_id for row in rows}
        return rows

    def held_behind(self, item: Item) -> Parking:
        return self._parking(item, ParkedStatus.HELD)

    def isolate(self, items: Sequence[Item]) -> None:
        """Record a failed batch one event at a time, parking what keeps failing and holding what follows it."""
        for item in items:
            fence = self.fence([item.notification.partition])
            if item.aggregate_id in self.blocked:
                self.handler.handle([], fence, [item.tracking], ParkingChanges(park=[self.held_behind(item)]))
                continue
            failure, attempts = self._attempt(item, fence, ParkingChanges())
            if failure is not None:
                self._park(item, fence, failure, attempts)

    def retry_requested(self, rows: Sequence[ParkedEvent]) -> bool:
        """Process what an operator asked to retry, and what was held behind it, in log order per aggregate;
        says whether there was anything to do."""
        todo = actionable(rows)
        if not todo:
            return False
        found = {item.notification.id: item for item in self.log.read_ids([row.notification_id for row in todo])}
        stopped: set[UUID] = set()
        for row in todo:
            if row.originator_id in stopped or row.notification_id not in found:
                continue
            item = decode(self.mapper, self.handler.upstream, found[row.notification_id])
            fence = self.fence([row.partition])
            failure, attempts = self._attempt(item, fence, ParkingChanges(retried=[row.id]))
            if failure is None:
                log.info("%s: parked event %s (%s) processed on retry", self.handler.follower, row.id, row.topic)
                continue
            stopped.add(row.originator_id)  # the rest of this aggregate stays held behind it
            self.handler.handle([], fence, [], ParkingChanges(failed=[Failure(
                row.id, _error_text(failure), _traceback_text(failure), attempts)]))
            log.error("%s: parked event %s failed again on retry: %s", self.handler.follower, row.id,
                      _error_text(failure))
        return True

    def _attempt(self, item: Item, fence: Fence, changes: ParkingChanges) -> tuple[BaseException | None, int]:
        if item.event is None:
            return item.error, 1  # decoding fails the same way every time
        failure: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                # A retried event is recorded without its tracking: the position moved past it when it was parked.
                self.handler.handle([(item.event, item.tracking)], fence, [], changes)
                return None, attempt
            except Exception as error:
                if is_transient(error):
                    raise
                failure = error
                log.warning("%s: %s at %s failed (attempt %d of %d): %s", self.handler.follower,
                            item.notification.notification.topic, item.tracking.notification_id, attempt,
                            self.attempts, _error_text(error))
                if attempt < self.attempts:
                    time.sleep(self.backoff_s * 2 ** (attempt - 1))
        return failure, self.attempts

    def _park(self, item: Item, fence: Fence, failure: BaseException, attempts: int) -> None:
        parking = self._parking(item, ParkedStatus.PARKED, failure, attempts)
        self.handler.handle([], fence, [item.tracking], ParkingChanges(park=[parking]))
        self.blocked.add(item.aggregate_id)
        log.error("%s: parked %s at %s of aggregate %s after %d attempts: %s", self.handler.follower,
                  parking.topic, parking.notification_id, parking.originator_id, attempts, parking.error)

    def _parking(self, item: Item, status: ParkedStatus, failure: BaseException | None = None,
                 attempts: int = 0) -> Parking:
        notification = item.notification.notification
        return Parking(self.handler.follower, self.handler.upstream, item.notification.partition, notification.id,
                       item.aggregate_id, notification.originator_version, notification.topic, status,
                       _error_text(failure) if failure else "", _traceback_text(failure) if failure else "",
                       attempts)


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def _traceback_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))[-20_000:]
