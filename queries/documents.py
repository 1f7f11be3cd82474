"""What the queries over document read models share: one document by id, and a row's document."""

from typing import Any
from uuid import UUID

from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from queries.reading import Pool, fetch_one


def document(row: DictRow) -> dict[str, Any]:
    doc: dict[str, Any] = row["doc"]
    return doc


def get_document(pool: Pool, view: str, entity_id: UUID) -> dict[str, Any] | None:
    """The entity's document from `read.<view>`, or None if the model has never seen it."""
    row = fetch_one(pool, SQL("SELECT doc FROM {0}.{1} WHERE id = %s").format(Identifier("read"), Identifier(view)),
                    (entity_id,))
    return document(row) if row else None
