"""The products read model: the catalog entry and stock levels of every product, from the Stock aggregates.

Quantities are kept as running totals. That is only correct if no event is counted twice, so an event whose
version the document has already reached is ignored: a redelivered event then changes nothing.
"""

from typing import Any
from uuid import UUID

from projections.event_data import aggregate_type, fact_of, to_json_value
from projections.models.common import touched
from projections.read_model import Column, Doc, Documents, ReadModel


def product_id_of(event: Any) -> UUID | None:
    # StockReservation events share the Inventory log but describe an order's reservation, not a product.
    if aggregate_type(event) != "Stock":
        return None
    product_id: UUID = event.originator_id
    return product_id


def reduce_product(doc: Doc | None, event: Any) -> Doc:
    if doc is not None and event.originator_version <= doc.get("version", 0):
        return doc
    new = touched(doc, event.originator_id, event)
    fact = fact_of(event)
    on_hand: int = new.get("on_hand", 0)
    reserved: int = new.get("reserved", 0)
    if fact == "ProductCreated":
        new.update({
            "sku": event.sku,
            "name": event.name,
            "price": to_json_value(event.price),
            "initial_stock": event.initial_stock,
            "discontinued": False,
            "created_at": event.timestamp.isoformat(),
        })
        on_hand, reserved = event.initial_stock, 0
    elif fact == "ProductUpdated":
        # Each of name and price is None when the update left it as it was.
        if event.name is not None:
            new["name"] = event.name
        if event.price is not None:
            new["price"] = to_json_value(event.price)
    elif fact == "ProductDiscontinued":
        new["discontinued"] = True
    elif fact == "Restocked":
        on_hand += event.quantity
    elif fact == "Reserved":
        reserved += event.quantity
    elif fact == "Released":
        reserved -= event.quantity
    elif fact == "Committed":
        # The reserved units left with the courier: they are neither held nor in the warehouse any more.
        reserved -= event.quantity
        on_hand -= event.quantity
    # ReservationRejected moves no units; it still counts as the product's latest change.
    new.update({
        "on_hand": on_hand,
        "reserved": reserved,
        "available": on_hand - reserved,
        "version": event.originator_version,
    })
    return new


PRODUCTS = ReadModel(
    name="products",
    upstreams=frozenset({"Inventory"}),
    documents=Documents(
        key=product_id_of,
        reduce=reduce_product,
        kind="product",
        columns=(
            Column("sku", "text", lambda doc: doc.get("sku")),
            Column("discontinued", "boolean", lambda doc: bool(doc.get("discontinued", False))),
            Column("name", "text", lambda doc: doc.get("name")),
        ),
    ),
)
