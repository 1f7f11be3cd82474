"""Couriers' latest positions as the position path keeps them (`tracking.courier_positions`, one row per courier),
laid over what the read models last recorded where they are newer.

The read models see a carrying courier's route only at its checkpoints (every half minute at most); the
position path's row is seconds old. The table belongs to the position path, which creates it: until it exists
(an older deployment, or a replica not yet given it) every lookup here answers nothing, and the documents are
served as the read models have them.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from psycopg import Connection
from psycopg.rows import DictRow

from queries.reading import Pool, fetch_all, reading

TABLE: Final = "tracking.courier_positions"
RECHECK_S: Final = 2.0
"""How often a missing table is looked for again (once there, it stays)."""
CARRYING: Final = frozenset({"ASSIGNED", "IN_TRANSIT"})
"""The shipment statuses in which the courier's position is the order's."""
COLUMNS: Final = ("courier_id, lat, lng, at::timestamptz AS at, eta::timestamptz AS eta, order_id, shipment_id, "
                  "speed_mps")


@dataclass(frozen=True)
class LivePosition:
    courier_id: UUID
    lat: float
    lng: float
    at: datetime
    eta: datetime | None
    order_id: UUID | None
    shipment_id: UUID | None
    speed_mps: float | None

    def as_position(self) -> dict[str, Any]:
        """As the read models write a position: `{lat, lng, at}`."""
        return {"lat": self.lat, "lng": self.lng, "at": self.at.astimezone(UTC).isoformat()}


def newer_than(live: LivePosition, position: Any) -> bool:
    """Whether the live position is newer than a read model's `{lat, lng, at}` (or there is none)."""
    at = position.get("at") if isinstance(position, dict) else None
    if not isinstance(at, str):
        return True
    try:
        return live.at > datetime.fromisoformat(at)
    except ValueError:
        return True


class LivePositions:
    def __init__(self, pool: Pool, *, recheck_s: float = RECHECK_S) -> None:
        self._pool = pool
        self._recheck_s = recheck_s
        self._present = False
        self._looked_at = float("-inf")

    def of_courier(self, courier_id: UUID) -> LivePosition | None:
        rows = self._select(f"SELECT {COLUMNS} FROM {TABLE} WHERE courier_id = %s", (courier_id,))
        return rows[0] if rows else None

    def of_couriers(self) -> dict[str, LivePosition]:
        """Every courier's, by id as text (how documents name them)."""
        return {str(row.courier_id): row for row in self._select(f"SELECT {COLUMNS} FROM {TABLE}", ())}

    def overlay_order(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order with its courier's live position and ETA, when the courier still carries it and the position
        is newer than the document's; otherwise the order as it is."""
        shipment = order.get("shipment")
        if not isinstance(shipment, dict) or shipment.get("status") not in CARRYING:
            return order
        courier_id = _uuid(shipment.get("courier_id"))
        live = self.of_courier(courier_id) if courier_id is not None else None
        if live is None or str(live.order_id) != str(order.get("id")) or not newer_than(live, shipment.get("position")):
            return order
        eta = live.eta.astimezone(UTC).isoformat() if live.eta is not None else shipment.get("eta")
        return {**order, "shipment": {**shipment, "position": live.as_position(), "eta": eta}}

    def available(self) -> bool:
        """Whether the position path's table exists (looked up again every `recheck_s` while it does not)."""
        if self._present:
            return True
        now = time.monotonic()
        if now - self._looked_at >= self._recheck_s:
            self._looked_at = now
            self._present = reading(self._pool, _table_exists)
        return self._present

    def _select(self, query: str, params: tuple[Any, ...]) -> list[LivePosition]:
        if not self.available():
            return []
        return [LivePosition(**row) for row in fetch_all(self._pool, query, params)]


def _table_exists(connection: Connection[DictRow]) -> bool:
    row = connection.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (TABLE,)).fetchone()
    return bool(row and row["present"])


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None
