"""What live push reads from the database: an order's view with its position, and the view changes after one.

Both come from the same transaction-consistent source: the projector writes a read-model document and its
view message to `read.outbox` in one transaction, so "the document" and "the highest outbox id of its view
messages", read in one statement, describe the same moment. A client shown the document may then be sent
exactly the changes with a higher outbox id, and none twice.
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from queries.push_hub import ViewChange
from queries.reading import Pool, fetch_all, fetch_one

ORDER_VIEW_KEYS = "view.order.%"


@dataclass(frozen=True)
class OrderSnapshot:
    doc: dict[str, Any]
    outbox_id: int
    """The newest view message of this order still in the outbox; 0 when the outbox no longer holds any."""

    @property
    def status(self) -> str | None:
        status = self.doc.get("status")
        return str(status) if status is not None else None

    @property
    def customer_id(self) -> str | None:
        customer = self.doc.get("customer_id")
        return str(customer) if customer is not None else None


class PushQueries:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def order_snapshot(self, order_id: UUID) -> OrderSnapshot | None:
        row = fetch_one(self._pool, "SELECT o.doc, (SELECT max(x.id) FROM read.outbox x WHERE x.aggregate_id = o.id "
                        "AND x.routing_key LIKE %s) AS outbox_id FROM read.orders o WHERE o.id = %s",
                        (ORDER_VIEW_KEYS, order_id))
        if row is None:
            return None
        return OrderSnapshot(doc=row["doc"], outbox_id=int(row["outbox_id"] or 0))

    def order_changes(self, order_id: UUID, *, after: int, including: bool = False) -> list[ViewChange]:
        """The order's view changes with an outbox id above `after` (or from it, `including`), oldest first."""
        comparison = ">=" if including else ">"
        rows = fetch_all(self._pool, "SELECT id, body FROM read.outbox WHERE aggregate_id = %s AND routing_key LIKE %s "
                         f"AND id {comparison} %s ORDER BY id", (order_id, ORDER_VIEW_KEYS, after))
        return [ViewChange.from_envelope(int(row["id"]), row["body"]) for row in rows]
