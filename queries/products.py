"""The catalog as anyone signed in sees it: the `read.products` read model."""

from typing import Any
from uuid import UUID

from psycopg.rows import DictRow

from queries.documents import document, get_document
from queries.pagination import Page, clamp_limit, cursor_uuid, decode_cursor, page_of, text_parameter
from queries.reading import Pool, fetch_all


def like_pattern(text: str) -> str:
    """A substring pattern for ILIKE in which the user's own `%` and `_` match only themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ProductQueries:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def get(self, product_id: UUID) -> dict[str, Any] | None:
        return get_document(self._pool, "products", product_id)

    def list(self, *, discontinued: bool | None = None, q: str | None = None, cursor: str | None = None,
             limit: int = 50) -> Page[dict[str, Any]]:
        """By sku (then id), which the model indexes; `q` finds a substring of the name or the sku."""
        conditions: list[str] = ["sku IS NOT NULL"]
        params: list[Any] = []
        if discontinued is not None:
            conditions.append("discontinued = %s")
            params.append(discontinued)
        if q:
            conditions.append("(name ILIKE %s OR sku ILIKE %s)")
            params.extend([like_pattern(text_parameter("q", q))] * 2)
        if cursor is not None:
            sku, last_id = decode_cursor(cursor, 2)
            conditions.append("(sku, id) > (%s, %s)")
            params.extend([sku, cursor_uuid(last_id)])
        size = clamp_limit(limit)
        rows = fetch_all(self._pool, f"SELECT id, sku, doc FROM read.products WHERE {' AND '.join(conditions)} "
                         "ORDER BY sku, id LIMIT %s", (*params, size + 1))
        return page_of(rows, size, _sku_key, document)


def _sku_key(row: DictRow) -> tuple[Any, ...]:
    return row["sku"], row["id"]
