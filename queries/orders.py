"""Orders as customers and operators see them: the `read.orders` read model."""

from typing import Any
from uuid import UUID

from queries.pagination import (
    Page,
    clamp_limit,
    cursor_time,
    cursor_uuid,
    decode_cursor,
    encode_cursor,
    text_parameter,
)
from queries.reading import Pool, fetch_all, fetch_one


class OrderQueries:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def get(self, order_id: UUID) -> dict[str, Any] | None:
        row = fetch_one(self._pool, "SELECT doc FROM read.orders WHERE id = %s", (order_id,))
        return row["doc"] if row else None

    def list(self, *, customer_id: str | None = None, status: str | None = None, cursor: str | None = None,
             limit: int = 50) -> Page[dict[str, Any]]:
        """Newest first; filtered by customer and status when given."""
        conditions: list[str] = ["placed_at IS NOT NULL"]
        params: list[Any] = []
        if customer_id is not None:
            conditions.append("customer_id = %s")
            params.append(text_parameter("customer_id", customer_id))
        if status is not None:
            conditions.append("status = %s")
            params.append(text_parameter("status", status))
        if cursor is not None:
            placed_at, last_id = decode_cursor(cursor, 2)
            conditions.append("(placed_at, id) < (%s, %s)")
            params.extend([cursor_time(placed_at), cursor_uuid(last_id)])
        size = clamp_limit(limit)
        rows = fetch_all(self._pool, f"SELECT id, placed_at, doc FROM read.orders WHERE {' AND '.join(conditions)} "
                         "ORDER BY placed_at DESC, id DESC LIMIT %s", (*params, size + 1))
        next_cursor = encode_cursor(rows[size - 1]["placed_at"].isoformat(), rows[size - 1]["id"]) \
            if len(rows) > size else None
        return Page([row["doc"] for row in rows[:size]], next_cursor)
