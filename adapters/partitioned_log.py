"""Reading one context's event log for some of a follower's partitions, filtered in SQL before decoding.

`projections.partitions.partition_of` is written here in SQL too, so a reader skips other partitions' rows
without fetching or decoding them.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eventsourcing.persistence import Notification
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool

from adapters.database import CONTEXT_SCHEMAS
from adapters.event_log import notification_of
from projections.partitions import PARTITIONS, partition_of

_PARTITION_OF: Final = "mod(('x' || left(originator_id::text, 8))::bit(32)::bigint, {0})"
PARTITION_SQL: Final = SQL(_PARTITION_OF.format(PARTITIONS))
"""`partition_of(originator_id)` in SQL, for the fixed partition count."""


@dataclass(frozen=True)
class PartitionedNotification:
    notification: Notification
    partition: int


@dataclass(frozen=True)
class LogPage:
    """What a read found, and how far it looked: no partition read has an unseen event up to `scanned_to`."""

    notifications: list[PartitionedNotification]
    scanned_to: int


def events_table(context: str) -> Composed:
    return SQL("{0}.{1}").format(Identifier(CONTEXT_SCHEMAS[context]), Identifier(f"{context.lower()}_events"))


class PartitionedLog:
    """One context's log as seen by the partitions a process holds."""

    def __init__(self, pool: ConnectionPool[Any], context: str, topics: Sequence[str] = (),
                 count: int = PARTITIONS) -> None:
        self.context = context
        self.count = count
        self._pool = pool
        self._topics = list(topics)
        topic_filter = SQL(" AND topic = ANY(%(topics)s)") if topics else SQL("")
        partition = SQL(_PARTITION_OF.format(count))
        # Each row is compared with its own partition's position: a partition that is far ahead adds no rows
        # that the LIMIT would count and the caller would have to drop.
        self._select = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {0} "
            "WHERE notification_id > %(after)s AND notification_id <= %(head)s "
            "AND notification_id > (%(positions)s::bigint[])[array_position(%(partitions)s::int[], {1}::int)]{2} "
            "ORDER BY notification_id LIMIT %(limit)s"
        ).format(events_table(context), partition, topic_filter)
        self._head = SQL("SELECT coalesce(max(notification_id), 0) FROM {0}").format(events_table(context))
        self._select_ids = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {0} "
            "WHERE notification_id = ANY(%s) ORDER BY notification_id").format(events_table(context))

    def read(self, after: Mapping[int, int], limit: int) -> LogPage:
        """Up to `limit` notifications of these partitions, each after its own partition's position, in order."""
        if not after:
            return LogPage([], 0)
        partitions = sorted(after)
        with self._pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            # The head first: events commit in id order (the log's table lock), so nothing at or below it can
            # still appear, and a short page means every partition was seen up to it.
            cursor.execute(self._head, prepare=True)
            head_row = cursor.fetchone()
            head = int(next(iter(head_row.values()))) if head_row else 0
            cursor.execute(self._select, {
                "after": min(after.values()), "head": head, "partitions": partitions,
                "positions": [after[partition] for partition in partitions], "topics": self._topics,
                "limit": limit}, prepare=True)
            rows = cursor.fetchall()
        found = [self._found(row) for row in rows]
        return LogPage(found, head if len(rows) < limit else rows[-1]["notification_id"])

    @property
    def pool(self) -> ConnectionPool[Any]:
        return self._pool

    def read_ids(self, notification_ids: Sequence[int]) -> list[PartitionedNotification]:
        """These notifications (parked ones, read again to be retried), in log order."""
        with self._pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(self._select_ids, (list(notification_ids),), prepare=True)
            return [self._found(row) for row in cursor.fetchall()]

    def _found(self, row: dict[str, Any]) -> PartitionedNotification:
        return PartitionedNotification(notification_of(row), partition_of(row["originator_id"], self.count))

