"""The payment deadlines view in PostgreSQL: its rows and its tracking position in one transaction."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Identifier

from adapters.follower_leases import Fence, hold_leases
from adapters.parked_events import ParkingChanges, apply_parking
from commands.deadlines import DeadlineChange, PaymentDeadlinesView


class PostgresPaymentDeadlinesView(PaymentDeadlinesView, PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = self.tracking_table_name.replace("_tracking", "_awaiting")
        self.check_identifier_length(table)
        schema = Identifier(self.datastore.schema)
        name = Identifier(table)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {0}.{1} ("
            "payment_id uuid PRIMARY KEY, order_id uuid NOT NULL, requested_at timestamptz NOT NULL)"
        ).format(schema, name))
        self.sql_create_statements.append(SQL(
            "CREATE INDEX IF NOT EXISTS {0} ON {1}.{2} (requested_at)"
        ).format(Identifier(f"{table}_requested_at_idx"), schema, name))
        self._insert = SQL(
            "INSERT INTO {0}.{1} (payment_id, order_id, requested_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (payment_id) DO NOTHING"
        ).format(schema, name)
        self._delete = SQL("DELETE FROM {0}.{1} WHERE payment_id = %s").format(schema, name)
        self._select_overdue = SQL(
            "SELECT payment_id, order_id FROM {0}.{1} WHERE requested_at < now() - %s "
            "ORDER BY requested_at LIMIT %s"
        ).format(schema, name)

    def await_answer(self, payment_id: UUID, order_id: UUID, requested_at: datetime, tracking: Tracking) -> None:
        self.record([DeadlineChange(payment_id, order_id, requested_at)], [tracking])

    def answered(self, payment_id: UUID, tracking: Tracking) -> None:
        self.record([DeadlineChange(payment_id)], [tracking])

    def record(self, changes: Sequence[DeadlineChange], trackings: Sequence[Tracking], fence: object = None,
               parking: object = None) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            if isinstance(fence, Fence):
                hold_leases(cursor, fence)
            if isinstance(parking, ParkingChanges) and parking:
                apply_parking(cursor, parking)
            for tracking in trackings:
                self._insert_tracking(cursor, tracking)
            for change in changes:
                if change.requested_at is not None:
                    cursor.execute(self._insert, (change.payment_id, change.order_id, change.requested_at),
                                   prepare=True)
                else:
                    cursor.execute(self._delete, (change.payment_id,), prepare=True)

    def overdue(self, timeout: timedelta, limit: int = 100) -> list[tuple[UUID, UUID]]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._select_overdue, (timeout, limit))
            return [(row["payment_id"], row["order_id"]) for row in cursor.fetchall()]
