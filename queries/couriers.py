"""Couriers as dispatchers see them: the `read.couriers` read model."""

from typing import Any
from uuid import UUID

from psycopg.rows import DictRow

from queries.documents import document, get_document
from queries.pagination import Page, clamp_limit, cursor_uuid, decode_cursor, page_of, text_parameter
from queries.reading import Pool, fetch_all


class CourierQueries:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def get(self, courier_id: UUID) -> dict[str, Any] | None:
        return get_document(self._pool, "couriers", courier_id)

    def list(self, *, status: str | None = None, courier_id: UUID | None = None, cursor: str | None = None,
             limit: int = 50) -> Page[dict[str, Any]]:
        """By name (then id), which the model indexes; `courier_id` narrows the list to that one courier."""
        conditions: list[str] = ["name IS NOT NULL"]
        params: list[Any] = []
        if status is not None:
            conditions.append("status = %s")
            params.append(text_parameter("status", status))
        if courier_id is not None:
            conditions.append("id = %s")
            params.append(courier_id)
        if cursor is not None:
            name, last_id = decode_cursor(cursor, 2)
            conditions.append("(name, id) > (%s, %s)")
            params.extend([name, cursor_uuid(last_id)])
        size = clamp_limit(limit)
        rows = fetch_all(self._pool, f"SELECT id, name, doc FROM read.couriers WHERE {' AND '.join(conditions)} "
                         "ORDER BY name, id LIMIT %s", (*params, size + 1))
        return page_of(rows, size, _name_key, document)


def _name_key(row: DictRow) -> tuple[Any, ...]:
    return row["name"], row["id"]
