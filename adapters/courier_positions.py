"""The position store in PostgreSQL (`commands.ports.PositionStore`): schema `tracking`, beside the event store.

`tracking.courier_positions` has one row per courier that ever reported: its latest position and speed, when
it was last heard from, the shipment it held then (with the order and destination, which never change, so a
report needs no event-store read), the ETA, and the last checkpoint recorded in the event store.
`tracking.shipment_tracks` has every point of a shipment's route, for `track_retention_h`.

Reports go through a group committer (`adapters.position_batches`): reads of many couriers' rows are one
statement, and the writes of many reports one transaction. The worker's sweeps (checkpoints due, silent
couriers, retention) are plain statements on the caller's thread. Both use the connections of the Shipping
application's pool, whose dispatch index (`shipping.dispatch_couriers`) says what each courier holds.
"""

from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from adapters.database import Database, migration_lock
from adapters.dispatch_index import COURIERS_TABLE
from adapters.position_batches import WINDOW_S, GroupCommitter
from commands.ports import Checkpoint, CourierRoute, HeldShipment, PositionWrite, SilentCourier
from domain.positions import LatestPosition
from domain.values import GeoPoint

TRACKING_SCHEMA: Final = "tracking"
POSITIONS: Final = SQL("tracking.courier_positions")
TRACKS: Final = SQL("tracking.shipment_tracks")
IN_TRANSIT: Final = "IN_TRANSIT"
MOVED_DEGREES: Final = 0.0001
"""About 11 m: a courier that moved less since its last checkpoint has not moved (GPS noise)."""
RETENTION_CHUNK: Final = 10_000
"""Track points deleted per statement: a day's worth at once would hold its locks and WAL for long."""

TABLES: Final = (
    f"CREATE SCHEMA IF NOT EXISTS {TRACKING_SCHEMA}",
    # Room on each page for the row's next version: a report then updates in place (no index changes).
    """CREATE TABLE IF NOT EXISTS tracking.courier_positions (
        courier_id uuid PRIMARY KEY,
        lat double precision NOT NULL,
        lng double precision NOT NULL,
        at timestamptz NOT NULL,
        speed_mps double precision,
        reported_at timestamptz NOT NULL,
        shipment_id uuid,
        order_id uuid,
        dest_lat double precision,
        dest_lng double precision,
        stage text,
        eta timestamptz,
        checkpoint_at timestamptz,
        checkpoint_lat double precision,
        checkpoint_lng double precision
    ) WITH (fillfactor = 70)""",
    "CREATE INDEX IF NOT EXISTS courier_positions_order_idx ON tracking.courier_positions (order_id) "
    "WHERE order_id IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS tracking.shipment_tracks (
        shipment_id uuid NOT NULL,
        at timestamptz NOT NULL,
        lat double precision NOT NULL,
        lng double precision NOT NULL,
        PRIMARY KEY (shipment_id, at)
    )""",
    # Points arrive about in time order, so a block-range index finds the old ones for next to nothing.
    "CREATE INDEX IF NOT EXISTS shipment_tracks_at_idx ON tracking.shipment_tracks USING brin (at)",
)


def create_tracking_tables(database: Database) -> None:
    """Schema `tracking` and its tables, if missing (`logistics migrate`)."""
    with database.connect() as connection, migration_lock(connection):
        for statement in TABLES:
            connection.execute(statement)


def _newer(column: str) -> SQL:
    return SQL(f"{column} = CASE WHEN EXCLUDED.at > p.at THEN EXCLUDED.{column} ELSE p.{column} END")


_LATEST_COLUMNS: Final = ("lat", "lng", "at", "speed_mps", "shipment_id", "order_id", "dest_lat", "dest_lng", "eta")
# A report's newest point replaces the stored one only if it is newer: two reports of one courier may commit
# in either order. A stage learned from the shipment (picked up) outlives reports made with an older lookup.
_UPSERT: Final = SQL(
    "INSERT INTO {positions} AS p (courier_id, lat, lng, at, speed_mps, reported_at, shipment_id, order_id, "
    "dest_lat, dest_lng, stage, eta) "
    "SELECT c, la, ln, a, s, now(), sh, o, dla, dln, st, e FROM unnest(%s::uuid[], %s::float8[], %s::float8[], "
    "%s::timestamptz[], %s::float8[], %s::uuid[], %s::uuid[], %s::float8[], %s::float8[], %s::text[], "
    "%s::timestamptz[]) AS u(c, la, ln, a, s, sh, o, dla, dln, st, e) "
    "ON CONFLICT (courier_id) DO UPDATE SET reported_at = EXCLUDED.reported_at, {latest}, "
    "stage = CASE WHEN EXCLUDED.at <= p.at THEN p.stage "
    "WHEN p.shipment_id = EXCLUDED.shipment_id AND p.stage = {in_transit} THEN p.stage ELSE EXCLUDED.stage END"
).format(positions=POSITIONS, latest=SQL(", ").join(_newer(column) for column in _LATEST_COLUMNS),
         in_transit=SQL(f"'{IN_TRANSIT}'"))
_HEARD: Final = SQL("UPDATE {} SET reported_at = now() WHERE courier_id = ANY(%s::uuid[])").format(POSITIONS)
_TRACK: Final = SQL(
    "INSERT INTO {} (shipment_id, at, lat, lng) SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], "
    "%s::float8[], %s::float8[]) ON CONFLICT DO NOTHING").format(TRACKS)


class PostgresPositionStore:
    """`commands.ports.PositionStore` on the Shipping application's datastore (its pool and its schema)."""

    def __init__(self, datastore: PostgresDatastore, *, window_s: float = WINDOW_S) -> None:
        self._datastore = datastore
        self._dispatch: Composed = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(COURIERS_TABLE))
        self.batches: GroupCommitter[UUID, CourierRoute, PositionWrite] = GroupCommitter(
            datastore.get_connection, self._routes, self._write, name="position-store", window_s=window_s)

    def close(self) -> None:
        self.batches.close()

    # The report path, batched.

    async def route_of(self, courier_id: UUID) -> CourierRoute | None:
        return await self.batches.read(courier_id)

    async def save(self, write: PositionWrite) -> None:
        await self.batches.write(write)

    def _routes(self, connection: Connection[DictRow], courier_ids: Sequence[UUID]) -> dict[UUID, CourierRoute]:
        rows = connection.execute(SQL(
            "SELECT d.courier_id, d.shipment_id AS held, p.lat, p.lng, p.at, p.speed_mps, p.shipment_id, "
            "p.order_id, p.dest_lat, p.dest_lng, p.stage FROM {dispatch} d "
            "LEFT JOIN {positions} p ON p.courier_id = d.courier_id WHERE d.courier_id = ANY(%s::uuid[])"
        ).format(dispatch=self._dispatch, positions=POSITIONS), (list(courier_ids),), prepare=True).fetchall()
        return {row["courier_id"]: _route(row) for row in rows}

    def _write(self, connection: Connection[DictRow], writes: Sequence[PositionWrite]) -> None:
        newest: dict[UUID, PositionWrite] = {}
        for write in writes:
            if write.latest is not None:
                kept = newest.get(write.courier_id)
                if kept is None or kept.latest is None or kept.latest.at < write.latest.at:
                    newest[write.courier_id] = write
        # In courier order: two batches of other processes that share couriers lock their rows in one order.
        moved = [newest[courier_id] for courier_id in sorted(newest, key=lambda each: each.int)]
        if moved:
            connection.execute(_UPSERT, _columns(moved), prepare=True)
        heard = sorted({write.courier_id for write in writes} - newest.keys(), key=lambda each: each.int)
        if heard:
            connection.execute(_HEARD, (heard,), prepare=True)
        points = [(write.shipment.shipment_id, point) for write in writes if write.shipment is not None
                  for point in write.track]
        if points:
            connection.execute(_TRACK, ([shipment_id for shipment_id, _ in points], [p.at for _, p in points],
                                        [p.lat for _, p in points], [p.lng for _, p in points]), prepare=True)

    # The worker's sweeps.

    def due_checkpoints(self, interval_s: float, limit: int) -> list[Checkpoint]:
        # The ETA only if it was estimated for the shipment the courier still holds.
        statement = SQL(
            "SELECT p.courier_id, p.lat, p.lng, CASE WHEN p.shipment_id = d.shipment_id THEN p.eta END AS eta "
            "FROM {positions} p JOIN {dispatch} d ON d.courier_id = p.courier_id "
            "WHERE (p.checkpoint_at IS NULL OR p.checkpoint_at <= now() - make_interval(secs => %(interval)s)) "
            "AND (p.checkpoint_lat IS NULL OR abs(p.lat - p.checkpoint_lat) > %(moved)s "
            "OR abs(p.lng - p.checkpoint_lng) > %(moved)s) "
            "ORDER BY p.checkpoint_at NULLS FIRST, p.courier_id LIMIT %(limit)s"
        ).format(positions=POSITIONS, dispatch=self._dispatch)
        rows = self._fetch(statement, {"interval": interval_s, "moved": MOVED_DEGREES, "limit": limit})
        return [Checkpoint(row["courier_id"], row["lat"], row["lng"], row["eta"]) for row in rows]

    def mark_checkpointed(self, checkpoints: Sequence[Checkpoint]) -> None:
        if not checkpoints:
            return
        ordered = sorted(checkpoints, key=lambda checkpoint: checkpoint.courier_id.int)
        with self._datastore.get_connection() as connection:
            connection.execute(SQL(
                "UPDATE {} p SET checkpoint_at = now(), checkpoint_lat = c.lat, checkpoint_lng = c.lng "
                "FROM unnest(%s::uuid[], %s::float8[], %s::float8[]) AS c(courier_id, lat, lng) "
                "WHERE p.courier_id = c.courier_id").format(POSITIONS),
                ([each.courier_id for each in ordered], [each.lat for each in ordered],
                 [each.lng for each in ordered]))

    def silent_couriers(self, silence_s: float, limit: int) -> list[SilentCourier]:
        # Heard from last: its last report, or its shipment's assignment if that came later (or it never
        # reported). The index row of a courier holding a shipment changes with nothing else.
        statement = SQL(
            "SELECT d.courier_id, d.shipment_id FROM {dispatch} d "
            "LEFT JOIN {positions} p ON p.courier_id = d.courier_id "
            "WHERE d.shipment_id IS NOT NULL "
            "AND GREATEST(d.updated_at, p.reported_at) < now() - make_interval(secs => %(silence)s) "
            "AND NOT COALESCE(p.shipment_id = d.shipment_id AND p.stage = %(in_transit)s, false) "
            "ORDER BY d.courier_id LIMIT %(limit)s"
        ).format(positions=POSITIONS, dispatch=self._dispatch)
        rows = self._fetch(statement, {"silence": silence_s, "in_transit": IN_TRANSIT, "limit": limit})
        return [SilentCourier(row["courier_id"], row["shipment_id"]) for row in rows]

    def note_in_transit(self, courier_id: UUID, shipment_id: UUID) -> None:
        with self._datastore.get_connection() as connection:
            connection.execute(SQL("UPDATE {} SET stage = %s WHERE courier_id = %s AND shipment_id = %s").format(
                POSITIONS), (IN_TRANSIT, courier_id, shipment_id))

    def forget_tracks_older_than(self, hours: float) -> int:
        statement = SQL(
            "DELETE FROM {tracks} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {tracks} "
            "WHERE at < now() - make_interval(hours => %s) LIMIT %s))").format(tracks=TRACKS)
        forgotten = 0
        while True:
            with self._datastore.get_connection() as connection:
                deleted = connection.execute(statement, (hours, RETENTION_CHUNK)).rowcount
            forgotten += deleted
            if deleted < RETENTION_CHUNK:
                return forgotten

    def _fetch(self, statement: Composed, parameters: dict[str, Any]) -> list[DictRow]:
        with self._datastore.get_connection() as connection:
            return connection.execute(statement, parameters).fetchall()


def _route(row: DictRow) -> CourierRoute:
    latest = LatestPosition(row["lat"], row["lng"], row["at"], row["speed_mps"]) if row["at"] is not None else None
    known = None
    if row["shipment_id"] is not None and row["order_id"] is not None and row["dest_lat"] is not None:
        known = HeldShipment(row["shipment_id"], row["order_id"], GeoPoint(row["dest_lat"], row["dest_lng"]),
                             row["stage"] or "")
    return CourierRoute(row["courier_id"], latest, row["held"], known)


def _columns(writes: Sequence[PositionWrite]) -> tuple[list[Any], ...]:
    """The upsert's arrays, one per column (a batch is one statement, whatever its size)."""
    columns: tuple[list[Any], ...] = tuple([] for _ in range(11))
    for write in writes:
        latest, shipment = write.latest, write.shipment
        assert latest is not None
        values = (write.courier_id, latest.lat, latest.lng, latest.at, latest.speed_mps,
                  shipment.shipment_id if shipment else None, shipment.order_id if shipment else None,
                  shipment.destination.lat if shipment else None, shipment.destination.lng if shipment else None,
                  shipment.stage if shipment else None, write.eta)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns
