"""Parked events as the operator and the followers read them: a follower's unresolved ones, a list, one event.

See `adapters.parked_events` for what parking is; these are the reads, on any connection (a read-only one
in the query API).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from queries.reading import Pool, reading

PARKED_TABLE: Final = "read.parked_events"


class ParkedStatus(StrEnum):
    PARKED = "parked"
    HELD = "held"
    RETRY = "retry"
    RETRIED = "retried"
    SKIPPED = "skipped"


UNRESOLVED: Final = (ParkedStatus.PARKED, ParkedStatus.HELD, ParkedStatus.RETRY)
"""Rows that still keep their aggregate's later events out of the follower's way."""

COLUMNS: Final = ("id, follower, upstream, partition, notification_id, originator_id, originator_version, topic, "
                   "status, error, traceback, attempts, parked_at, updated_at, resolved_by, reason")


@dataclass(frozen=True)
class ParkedEvent:
    """One parked (or held, or resolved) event of one follower."""

    id: int
    follower: str
    upstream: str
    partition: int
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    status: ParkedStatus
    error: str
    traceback: str
    attempts: int
    parked_at: datetime
    updated_at: datetime
    resolved_by: str | None
    reason: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> "ParkedEvent":
        return cls(**{**row, "status": ParkedStatus(row["status"])})


def unresolved(connection: Connection[Any], follower: str, partitions: Iterable[int]) -> list[ParkedEvent]:
    """The rows that still hold up these partitions of `follower`, in log order."""
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM {PARKED_TABLE} WHERE follower = %s AND partition = ANY(%s) "
                       "AND status IN ('parked', 'held', 'retry') ORDER BY notification_id",
                       (follower, list(partitions)))
        return [ParkedEvent.of(row) for row in cursor.fetchall()]


def parked_events(connection: Connection[Any], follower: str | None = None,
                  statuses: Sequence[ParkedStatus] = UNRESOLVED, limit: int = 200) -> list[ParkedEvent]:
    """Parked events, oldest first (of one follower, in these statuses)."""
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM {PARKED_TABLE} WHERE (%(follower)s::text IS NULL OR follower = "
                       "%(follower)s) AND status = ANY(%(statuses)s) ORDER BY id LIMIT %(limit)s",
                       {"follower": follower, "statuses": [status.value for status in statuses], "limit": limit})
        return [ParkedEvent.of(row) for row in cursor.fetchall()]


def parked_event(connection: Connection[Any], parked_id: int) -> ParkedEvent | None:
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM {PARKED_TABLE} WHERE id = %s", (parked_id,))
        row = cursor.fetchone()
    return None if row is None else ParkedEvent.of(row)


class ParkedQueries:
    """The query API's reads of parked events, on its read-only pool."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def listed(self, follower: str | None = None, statuses: Sequence[ParkedStatus] = UNRESOLVED,
               limit: int = 200) -> list[ParkedEvent]:
        return reading(self._pool, lambda connection: parked_events(connection, follower, statuses, limit))

    def get(self, parked_id: int) -> ParkedEvent | None:
        return reading(self._pool, lambda connection: parked_event(connection, parked_id))
