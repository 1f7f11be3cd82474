"""Orders in transit that will miss their promise: the expected arrival is past `promised_by`.

The expected arrival is the newest ETA (the courier's live one when the position path has a newer position than
the read model's last checkpoint), but never earlier than now: an order still on its way whose ETA has passed
arrives now at the earliest, and one past its promise with no ETA at all is late too. Most late first.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from psycopg.rows import DictRow

from queries.live_positions import TABLE, LivePositions
from queries.pagination import clamp_limit
from queries.reading import Pool, fetch_all

_DOC_POSITION_AT: Final = "(o.doc -> 'shipment' -> 'position' ->> 'at')::timestamptz"
_DOC_ETA: Final = "(o.doc -> 'shipment' ->> 'eta')::timestamptz"
_LIVE_IS_NEWER: Final = f"(p.at IS NOT NULL AND ({_DOC_POSITION_AT} IS NULL OR p.at::timestamptz > {_DOC_POSITION_AT}))"

_FROM_READ_MODEL: Final = f"""
    SELECT o.id, o.doc, {_DOC_ETA} AS eta, o.doc -> 'shipment' -> 'position' AS position
    FROM read.orders o WHERE o.status = 'IN_TRANSIT' AND o.doc ? 'promised_by'"""
_WITH_LIVE_POSITIONS: Final = f"""
    SELECT o.id, o.doc,
           CASE WHEN {_LIVE_IS_NEWER} THEN p.eta::timestamptz ELSE {_DOC_ETA} END AS eta,
           CASE WHEN {_LIVE_IS_NEWER}
                THEN jsonb_build_object('lat', p.lat, 'lng', p.lng, 'at', p.at::timestamptz)
                ELSE o.doc -> 'shipment' -> 'position' END AS position
    FROM read.orders o
    LEFT JOIN {TABLE} p ON p.courier_id = (o.doc -> 'shipment' ->> 'courier_id')::uuid AND p.order_id = o.id
    WHERE o.status = 'IN_TRANSIT' AND o.doc ? 'promised_by'"""
_LATE: Final = """
    WITH in_transit AS ({source}),
    expected AS (SELECT *, greatest(coalesce(eta, now()), now()) AS arrives,
                        (doc ->> 'promised_by')::timestamptz AS promised_by FROM in_transit)
    SELECT id, doc, eta, position, arrives, promised_by, extract(epoch FROM arrives - promised_by) AS late_by_s
    FROM expected WHERE arrives > promised_by ORDER BY arrives - promised_by DESC, id LIMIT %s"""


@dataclass(frozen=True)
class LateDelivery:
    order_id: UUID
    customer_id: str | None
    courier_id: str | None
    address: str | None
    placed_at: str | None
    promised_by: datetime
    eta: datetime | None
    """The newest estimate; None when nobody has estimated one."""
    expected_at: datetime
    """When it arrives at the earliest: the ETA, or now if that is later."""
    late_by_s: float
    position: dict[str, Any] | None


def is_late(eta: datetime | None, promised_by: datetime, now: datetime) -> bool:
    """The rule the list applies, for one order in hand (a page): expected after its promise."""
    return max(eta or now, now) > promised_by


class LateDeliveries:
    def __init__(self, pool: Pool, live: LivePositions) -> None:
        self._pool = pool
        self._live = live

    def list(self, *, limit: int = 50) -> list[LateDelivery]:
        source = _WITH_LIVE_POSITIONS if self._live.available() else _FROM_READ_MODEL
        rows = fetch_all(self._pool, _LATE.format(source=source), (clamp_limit(limit),))
        return [_late_delivery(row) for row in rows]


def _late_delivery(row: DictRow) -> LateDelivery:
    doc: dict[str, Any] = row["doc"]
    shipment = doc.get("shipment") or {}
    delivery = doc.get("delivery") or {}
    position = row["position"]
    return LateDelivery(
        order_id=row["id"], customer_id=doc.get("customer_id"), courier_id=shipment.get("courier_id"),
        address=delivery.get("address"), placed_at=doc.get("placed_at"), promised_by=row["promised_by"],
        eta=row["eta"], expected_at=row["arrives"], late_by_s=round(float(row["late_by_s"]), 1),
        position=position if isinstance(position, dict) else None,
    )
