"""The dispatch index in PostgreSQL, kept by the Shipping context's recorders in its events' own transactions.

Two tables beside `shipping.shipping_events`: `dispatch_couriers` (every courier: available, where) and
`dispatch_waiting` (the shipments waiting for a courier). A write's changes (`commands.dispatch_index`) come
as a recording keyword and are applied before the events are inserted, so the rows commit or roll back with
the events they follow. Both recorders of the context need it: the command API's application recorder and
the saga's process recorder (which also records fences and several trackings, `adapters.fenced_recorder`).

The rows are rebuilt from the log when they were never filled (`fill_dispatch_index`: `logistics migrate`
calls it, so a store written before the index existed gets one), and can be rebuilt on purpose.
"""

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal

from adapters.event_log import notification_of, notification_pages
from adapters.fenced_recorder import FencedProcessRecorder
from commands.dispatch_index import (
    RECORDING_KWARG,
    CourierRow,
    DispatchChanges,
    MemoryDispatchIndex,
    WaitingRow,
    index_of,
)
from domain.values import GeoPoint

COURIERS_TABLE: Final = "dispatch_couriers"
WAITING_TABLE: Final = "dispatch_waiting"
FILLED_TABLE: Final = "dispatch_index_filled"
FILL_PAGE: Final = 1000


@dataclass(frozen=True)
class IndexSnapshot:
    """The index's rows and the log position they reflect, read in one snapshot (for `logistics verify`)."""

    up_to: int
    couriers: list[CourierRow]
    waiting: list[WaitingRow]


class DispatchIndexRecorder(PostgresApplicationRecorder):
    """The Shipping context's application recorder: its events, and the dispatch index rows they change."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(self.datastore.schema)
        self._couriers = SQL("{}.{}").format(schema, Identifier(COURIERS_TABLE))
        self._waiting = SQL("{}.{}").format(schema, Identifier(WAITING_TABLE))
        self._filled = SQL("{}.{}").format(schema, Identifier(FILLED_TABLE))
        self._events = SQL("{}.{}").format(schema, Identifier(self.events_table_name))
        self.sql_create_statements.extend(self._index_tables())

    def _index_tables(self) -> list[Composed]:
        # `available` is "on duty and empty-handed"; `shipment_id` what a busy courier holds.
        return [
            SQL("CREATE TABLE IF NOT EXISTS {} (courier_id uuid PRIMARY KEY, available boolean NOT NULL, "
                "lat double precision NOT NULL, lng double precision NOT NULL, "
                "updated_at timestamptz NOT NULL, shipment_id uuid)").format(self._couriers),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (courier_id) WHERE available").format(
                Identifier(f"{COURIERS_TABLE}_available_idx"), self._couriers),
            SQL("CREATE TABLE IF NOT EXISTS {} (shipment_id uuid PRIMARY KEY, order_id uuid NOT NULL, "
                "lat double precision NOT NULL, lng double precision NOT NULL, "
                "queued_at timestamptz NOT NULL)").format(self._waiting),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (queued_at, shipment_id)").format(
                Identifier(f"{WAITING_TABLE}_queued_idx"), self._waiting),
            # One row once the index has been filled from the log (or the log was empty when it was created).
            SQL("CREATE TABLE IF NOT EXISTS {} (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), "
                "up_to bigint NOT NULL, filled_at timestamptz NOT NULL DEFAULT now())").format(self._filled),
            # An index made before couriers' shipments were in it gets the column, and is filled again from
            # the log (at this start, by the migration) so that busy couriers' rows name their shipments.
            SQL("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = {} "
                "AND table_name = {} AND column_name = 'shipment_id') THEN "
                "ALTER TABLE {} ADD COLUMN shipment_id uuid; DELETE FROM {}; END IF; END $$").format(
                Literal(self.datastore.schema or "public"), Literal(COURIERS_TABLE), self._couriers, self._filled),
        ]

    # Writing, in the events' transaction.

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Any, **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        changes: DispatchChanges | None = kwargs.get(RECORDING_KWARG)
        if changes:
            self._apply(curs, changes)

    def _apply(self, curs: Cursor[DictRow], changes: DispatchChanges) -> None:
        # Rows in id order, couriers before shipments: concurrent writers lock them in one order (no deadlock).
        for change in changes.couriers:
            if change.registered:
                row = change.row()
                curs.execute(SQL(
                    "INSERT INTO {} (courier_id, available, lat, lng, updated_at, shipment_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (courier_id) DO UPDATE SET available = EXCLUDED.available, lat = EXCLUDED.lat, "
                    "lng = EXCLUDED.lng, updated_at = EXCLUDED.updated_at, shipment_id = EXCLUDED.shipment_id"
                ).format(self._couriers),
                    (row.courier_id, row.available, row.lat, row.lng, row.updated_at, row.shipment_id), prepare=True)
            else:
                curs.execute(SQL(
                    "UPDATE {} SET available = COALESCE(%s::boolean, available), "
                    "lat = COALESCE(%s::double precision, lat), lng = COALESCE(%s::double precision, lng), "
                    "shipment_id = CASE WHEN %s THEN %s::uuid ELSE shipment_id END, "
                    "updated_at = %s WHERE courier_id = %s").format(self._couriers),
                    (change.available, change.lat, change.lng, change.holds_changed, change.shipment_id, change.at,
                     change.courier_id), prepare=True)
        for waiting in changes.queued:
            curs.execute(SQL(
                "INSERT INTO {} (shipment_id, order_id, lat, lng, queued_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (shipment_id) DO NOTHING").format(self._waiting),
                (waiting.shipment_id, waiting.order_id, waiting.lat, waiting.lng, waiting.queued_at), prepare=True)
        for shipment_id in changes.unqueued:
            curs.execute(SQL("DELETE FROM {} WHERE shipment_id = %s").format(self._waiting), (shipment_id,),
                         prepare=True)

    # Reading: the `commands.ports.DispatchIndex` port, on the application's own pool.

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def nearest_available_couriers(self, point: GeoPoint, limit: int,
                                   passing_over: Collection[UUID] = ()) -> list[UUID]:
        # The same order as `commands.dispatch_index.nearness`: equirectangular, squared degrees.
        statement = SQL(
            "SELECT courier_id FROM {} WHERE available AND courier_id <> ALL(%s::uuid[]) "
            "ORDER BY power(lat - %s, 2) + power((lng - %s) * cos(radians(%s)), 2), courier_id LIMIT %s"
        ).format(self._couriers)
        with self.datastore.get_connection() as connection:
            rows = connection.execute(statement, (list(passing_over), point.lat, point.lng, point.lat, limit),
                                      prepare=True).fetchall()
        return [row["courier_id"] for row in rows]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def oldest_waiting_shipments(self, limit: int, passing_over: Collection[UUID] = ()) -> list[UUID]:
        statement = SQL(
            "SELECT shipment_id FROM {} WHERE shipment_id <> ALL(%s::uuid[]) ORDER BY queued_at, shipment_id LIMIT %s"
        ).format(self._waiting)
        with self.datastore.get_connection() as connection:
            rows = connection.execute(statement, (list(passing_over), limit), prepare=True).fetchall()
        return [row["shipment_id"] for row in rows]

    def snapshot(self) -> IndexSnapshot:
        """Every row, and the last notification id committed when they were read (one REPEATABLE READ snapshot)."""
        with self.datastore.get_connection() as connection, connection.transaction():
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            head = connection.execute(SQL("SELECT max(notification_id) AS head FROM {}").format(self._events)
                                      ).fetchone()
            couriers = connection.execute(SQL(
                "SELECT courier_id, available, lat, lng, updated_at, shipment_id FROM {}").format(self._couriers)
            ).fetchall()
            waiting = connection.execute(SQL(
                "SELECT shipment_id, order_id, lat, lng, queued_at FROM {}").format(self._waiting)).fetchall()
        return IndexSnapshot(
            up_to=(head or {}).get("head") or 0,
            couriers=[CourierRow(**row) for row in couriers],
            waiting=[WaitingRow(**row) for row in waiting],
        )

    # Filling from the log.

    def fill(self, derive: Callable[[Iterator[StoredEvent]], MemoryDispatchIndex], *,
             rebuild: bool = False) -> int | None:
        """Fill the rows from every event of the log, unless they were filled before (or `rebuild`).

        Writers of this context wait meanwhile (the fill takes their lock on the events table), so no event
        lands between the read of the log and the rows written from it. The events read; None if not filled.
        """
        if not rebuild and self._filled_already():
            return None  # the usual case at every process start: no lock taken
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)
            if not rebuild and curs.execute(SQL("SELECT 1 FROM {}").format(self._filled)).fetchone():
                return None  # another process filled it while this one waited for the lock
            for table in (self._couriers, self._waiting, self._filled):
                curs.execute(SQL("DELETE FROM {}").format(table))
            head = curs.execute(SQL("SELECT max(notification_id) AS head FROM {}").format(self._events)).fetchone()
            read = [0]
            index = derive(self._stored_events(curs, read))
            for courier in sorted(index.couriers.values(), key=lambda row: row.courier_id.int):
                curs.execute(SQL("INSERT INTO {} (courier_id, available, lat, lng, updated_at, shipment_id) "
                                 "VALUES (%s, %s, %s, %s, %s, %s)").format(self._couriers),
                             (courier.courier_id, courier.available, courier.lat, courier.lng, courier.updated_at,
                              courier.shipment_id))
            for waiting in sorted(index.waiting.values(), key=lambda row: row.shipment_id.int):
                curs.execute(SQL("INSERT INTO {} (shipment_id, order_id, lat, lng, queued_at) "
                                 "VALUES (%s, %s, %s, %s, %s)").format(self._waiting),
                             (waiting.shipment_id, waiting.order_id, waiting.lat, waiting.lng, waiting.queued_at))
            curs.execute(SQL("INSERT INTO {} (up_to) VALUES (%s)").format(self._filled),
                         ((head or {}).get("head") or 0,))
        return read[0]

    def _filled_already(self) -> bool:
        with self.datastore.get_connection() as connection:
            return connection.execute(SQL("SELECT 1 FROM {}").format(self._filled)).fetchone() is not None

    def _stored_events(self, curs: Cursor[DictRow], read: list[int]) -> Iterator[StoredEvent]:
        for page in notification_pages(_LockedLog(curs, self._events), page_size=FILL_PAGE):
            read[0] += len(page)
            yield from page


class _LockedLog:
    """The events table read on the fill's own cursor, in the transaction that holds the writers' lock."""

    def __init__(self, curs: Cursor[DictRow], events: Composed) -> None:
        self._curs = curs
        self._events = events

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> list[Notification]:
        rows = self._curs.execute(SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE notification_id {} %(start)s AND (%(stop)s::bigint IS NULL OR notification_id <= %(stop)s) "
            "AND (cardinality(%(topics)s::text[]) = 0 OR topic = ANY(%(topics)s)) "
            "ORDER BY notification_id LIMIT %(limit)s").format(self._events, SQL(">=" if inclusive_of_start else ">")),
            {"start": start or 0, "stop": stop, "topics": list(topics), "limit": limit}).fetchall()
        return [notification_of(row) for row in rows]


class DispatchIndexProcessRecorder(DispatchIndexRecorder, FencedProcessRecorder):
    """The Shipping saga step's process recorder: fences and trackings, the events, and the index rows."""


def fill_dispatch_index(recorder: object, decode: Callable[[StoredEvent], Any], *,
                        rebuild: bool = False) -> int | None:
    """Fill a Shipping recorder's index from its log if it never was (or `rebuild`): the events it read, or None."""
    if not isinstance(recorder, DispatchIndexRecorder):
        raise TypeError(f"{type(recorder).__name__} keeps no dispatch index")
    return recorder.fill(lambda stored: index_of(decode(event) for event in stored), rebuild=rebuild)
