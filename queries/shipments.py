"""Shipments and their tracks: the `read.shipments` read model and its `read.shipments_track` rows."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import DictRow

from queries.documents import document, get_document
from queries.pagination import Page, clamp_limit, cursor_uuid, decode_cursor, page_of, text_parameter
from queries.reading import Pool, fetch_all


@dataclass(frozen=True)
class TrackPoint:
    version: int
    """The shipment's version whose event reported this position: the track's order."""
    at: datetime
    lat: float
    lng: float


class ShipmentQueries:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def get(self, shipment_id: UUID) -> dict[str, Any] | None:
        return get_document(self._pool, "shipments", shipment_id)

    def track(self, shipment_id: UUID) -> list[TrackPoint]:
        """Every position the shipment was reported at, the assignment's first."""
        rows = fetch_all(self._pool, "SELECT version, at, lat, lng FROM read.shipments_track WHERE shipment_id = %s "
                         "ORDER BY version", (shipment_id,))
        return [TrackPoint(row["version"], row["at"], row["lat"], row["lng"]) for row in rows]

    def list(self, *, status: str | None = None, courier_id: UUID | None = None, customer_id: str | None = None,
             cursor: str | None = None, limit: int = 50) -> Page[dict[str, Any]]:
        """In id order: every filter column's index ends with the id, so each page is one index range."""
        conditions: list[str] = []
        params: list[Any] = []
        if status is not None:
            conditions.append("status = %s")
            params.append(text_parameter("status", status))
        if courier_id is not None:
            conditions.append("courier_id = %s")
            params.append(courier_id)
        if customer_id is not None:
            conditions.append("customer_id = %s")
            params.append(text_parameter("customer_id", customer_id))
        if cursor is not None:
            (last_id,) = decode_cursor(cursor, 1)
            conditions.append("id > %s")
            params.append(cursor_uuid(last_id))
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        size = clamp_limit(limit)
        rows = fetch_all(self._pool, f"SELECT id, doc FROM read.shipments {where}ORDER BY id LIMIT %s",
                         (*params, size + 1))
        return page_of(rows, size, _id_key, document)


def _id_key(row: DictRow) -> tuple[Any, ...]:
    return (row["id"],)
