"""Parked events: what a follower could not process, set aside in PostgreSQL until an operator retries or skips it.

A follower that keeps failing on one event parks it (`PARKED`, with the error, traceback and attempts) in the
same transaction as moving its position past it, and goes on. Later events of the same aggregate are parked
behind it (`HELD`), never processed out of order, while other aggregates flow on. An operator then asks for a
retry (`RETRY`: the lease holder processes it again with the current code, then what was held behind it) or
skips it (`SKIPPED`, with who and why, kept for good). Every operator action is also written to
`read.parked_actions`, the audit trail of these decisions.

A row's life: PARKED -> RETRY -> RETRIED (or PARKED again, with the new error); PARKED -> SKIPPED; HELD -> RETRIED
once everything before it of its aggregate is resolved (or PARKED, if it fails in turn).
"""

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from psycopg import Connection, Cursor
from psycopg.rows import dict_row

from adapters.database import READ_SCHEMA, Database
from queries.parked import (
    COLUMNS,
    PARKED_TABLE,
    UNRESOLVED,
    ParkedEvent,
    ParkedStatus,
    parked_event,
    parked_events,
)

PARKED: Final = f"{READ_SCHEMA}.parked_events"
assert PARKED == PARKED_TABLE
PARKED_ACTIONS: Final = f"{READ_SCHEMA}.parked_actions"
PARK_AFTER_ATTEMPTS: Final = 3
"""How many times a follower tries an event (with backoff) before it parks it."""


PARKED_TABLES: Final = (
    f"""
    CREATE TABLE IF NOT EXISTS {PARKED} (
        id bigserial PRIMARY KEY,
        follower text NOT NULL,
        upstream text NOT NULL,
        partition integer NOT NULL,
        notification_id bigint NOT NULL,
        originator_id uuid NOT NULL,
        originator_version integer NOT NULL,
        topic text NOT NULL,
        status text NOT NULL CHECK (status IN ('parked', 'held', 'retry', 'retried', 'skipped')),
        error text NOT NULL DEFAULT '',
        traceback text NOT NULL DEFAULT '',
        attempts integer NOT NULL DEFAULT 0,
        parked_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        resolved_by text,
        reason text,
        UNIQUE (follower, notification_id)
    )
    """,
    f"CREATE INDEX IF NOT EXISTS parked_events_unresolved ON {PARKED} (follower, partition) "
    "WHERE status IN ('parked', 'held', 'retry')",
    f"""
    CREATE TABLE IF NOT EXISTS {PARKED_ACTIONS} (
        id bigserial PRIMARY KEY,
        parked_id bigint NOT NULL REFERENCES {PARKED} (id),
        action text NOT NULL,
        actor text NOT NULL,
        reason text,
        at timestamptz NOT NULL DEFAULT now()
    )
    """,
)

@dataclass(frozen=True)
class Parking:
    """An event to set aside: parked with its error, or held behind an earlier one of its aggregate."""

    follower: str
    upstream: str
    partition: int
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    status: ParkedStatus
    error: str = ""
    traceback: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class Failure:
    """A retried row that failed again: it goes back to PARKED with the new error."""

    parked_id: int
    error: str
    traceback: str
    attempts: int


@dataclass(frozen=True)
class ParkingChanges:
    """What a follower's transaction changes among the parked events, besides its own effects."""

    park: Sequence[Parking] = ()
    retried: Sequence[int] = ()
    """Rows processed in this transaction: their events carry no tracking (the position moved past them)."""
    failed: Sequence[Failure] = ()

    def __bool__(self) -> bool:
        return bool(self.park or self.retried or self.failed)


NO_PARKING: Final = ParkingChanges()

_INSERT: Final = (f"INSERT INTO {PARKED} (follower, upstream, partition, notification_id, originator_id, "
                  "originator_version, topic, status, error, traceback, attempts) "
                  "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
_RETRIED: Final = (f"UPDATE {PARKED} SET status = 'retried', updated_at = now() "
                   "WHERE id = ANY(%s) AND status IN ('retry', 'held') RETURNING id")
_FAILED: Final = (f"UPDATE {PARKED} SET status = 'parked', error = %s, traceback = %s, attempts = attempts + %s, "
                  "updated_at = now() WHERE id = %s AND status IN ('retry', 'held') RETURNING id")


def apply_parking(cursor: Cursor[Any], changes: ParkingChanges) -> None:
    """Record `changes` in the caller's transaction; a row resolved meanwhile fails it (IntegrityError)."""
    if changes.park:
        cursor.executemany(_INSERT, [(p.follower, p.upstream, p.partition, p.notification_id, p.originator_id,
                                      p.originator_version, p.topic, p.status.value, p.error, p.traceback,
                                      p.attempts) for p in changes.park])
    # Rows are fetched, not counted: in a pipeline (the library's recorders) only a fetch waits for the result.
    if changes.retried:
        cursor.execute(_RETRIED, (list(changes.retried),))
        if len(cursor.fetchall()) != len(changes.retried):
            raise IntegrityError(f"parked events {list(changes.retried)} were resolved meanwhile")
    for failure in changes.failed:
        cursor.execute(_FAILED, (failure.error, failure.traceback, failure.attempts, failure.parked_id))
        if len(cursor.fetchall()) != 1:
            raise IntegrityError(f"parked event {failure.parked_id} was resolved meanwhile")


def actionable(rows: Sequence[ParkedEvent]) -> list[ParkedEvent]:
    """The rows a follower should process now: per aggregate, from its first unresolved row while that row
    is asked to be retried or only held (everything before it was resolved), in log order."""
    first: dict[UUID, ParkedEvent] = {}
    for row in rows:
        first.setdefault(row.originator_id, row)
    return [row for row in rows if first[row.originator_id].status is not ParkedStatus.PARKED]


class UnknownParkedEvent(LookupError):
    """No parked event has that id."""


class NotParked(ValueError):
    """The action does not apply to the row in its status (a held row waits for the one before it)."""


class ParkedEvents:
    """The operator's side: list, show, ask for retries, skip; each action audited.

    `connect` opens a connection or lends one from a pool (the command API lends its own small pool's)."""

    def __init__(self, connect: Callable[[], AbstractContextManager[Connection[Any]]]) -> None:
        self._connect = connect

    @classmethod
    def of(cls, database: Database) -> "ParkedEvents":
        return cls(database.connect)

    def listed(self, follower: str | None = None, statuses: Sequence[ParkedStatus] = UNRESOLVED,
               limit: int = 200) -> list[ParkedEvent]:
        with self._connect() as connection:
            return parked_events(connection, follower, statuses, limit)

    def get(self, parked_id: int) -> ParkedEvent:
        with self._connect() as connection:
            found = parked_event(connection, parked_id)
        if found is None:
            raise UnknownParkedEvent(parked_id)
        return found

    def retry(self, parked_id: int, actor: str) -> ParkedEvent:
        """Ask the follower to process a parked event again (then what was held behind it)."""
        return self._act(parked_id, actor, "retry", None, "status = 'retry', resolved_by = %(actor)s",
                         (ParkedStatus.PARKED,))

    def retry_all(self, actor: str, follower: str | None = None) -> list[ParkedEvent]:
        return [self.retry(row.id, actor) for row in self.listed(follower, (ParkedStatus.PARKED,), limit=100_000)]

    def skip(self, parked_id: int, actor: str, reason: str) -> ParkedEvent:
        """Record that an operator chose never to process this event; what was held behind it then flows."""
        return self._act(parked_id, actor, "skip", reason, "status = 'skipped', resolved_by = %(actor)s, "
                         "reason = %(reason)s", (ParkedStatus.PARKED, ParkedStatus.RETRY))

    def _act(self, parked_id: int, actor: str, action: str, reason: str | None, assignment: str,
             allowed: Sequence[ParkedStatus]) -> ParkedEvent:
        with self._connect() as connection:
            with connection.transaction(), connection.cursor(row_factory=dict_row) as cursor:
                cursor.execute(f"UPDATE {PARKED} SET {assignment}, updated_at = now() WHERE id = %(id)s "
                               f"AND status = ANY(%(allowed)s) RETURNING {COLUMNS}",
                               {"id": parked_id, "actor": actor, "reason": reason,
                                "allowed": [status.value for status in allowed]})
                row = cursor.fetchone()
                if row is not None:
                    cursor.execute(f"INSERT INTO {PARKED_ACTIONS} (parked_id, action, actor, reason) "
                                   "VALUES (%s, %s, %s, %s)", (parked_id, action, actor, reason))
            if row is None:
                current = parked_event(connection, parked_id)
                if current is None:
                    raise UnknownParkedEvent(parked_id)
                raise NotParked(f"parked event {parked_id} is {current.status}; {action} applies to "
                                f"{' or '.join(allowed)} events only")
        return ParkedEvent.of(row)

    def skipped_notifications(self, follower: str) -> set[int]:
        """Notification ids `follower` never applied and must not apply on a rebuild (skipped or still out)."""
        with self._connect() as connection:
            rows = connection.execute(f"SELECT notification_id FROM {PARKED} WHERE follower = %s "
                                      "AND status <> 'retried'", (follower,)).fetchall()
        return {int(row[0] if isinstance(row, tuple) else row["notification_id"]) for row in rows}


def create_parked_tables(database: Database) -> None:
    """The parked events and the operators' actions on them; idempotent (run by migrate)."""
    with database.connect() as connection:
        for statement in PARKED_TABLES:
            connection.execute(statement)
