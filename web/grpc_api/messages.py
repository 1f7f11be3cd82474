"""Between protobuf messages and what the application services and the read models speak.

Requests are checked here only for what the domain does not check itself: the shape of ids, page sizes and
tokens, and free text that never reaches a value object (a cancellation note, a search). Names, prices,
quantities, addresses and tokens go to the domain as they came, and its InvalidValue names the field; the
request fields are named as the HTTP API's (`items[0].quantity`, `delivery.lat`), so both faces name them alike.
"""

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp

from domain.order import CancelReason, OrderStatus
from domain.stock import Stock
from queries.pagination import MAX_LIMIT
from web.grpc_api.calls import invalid_argument
from web.grpc_api.generated import orders_pb2, products_pb2
from web.query_api.push_status import StatusChange

DEFAULT_PAGE_SIZE: Final = 50
# C0 and C1 control characters and DEL: never part of a name, a note or a search.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHOWN: Final = 60


def shown(text: str) -> str:
    """A client's text quoted in a message: escaped, and not longer than a line."""
    return repr(text[:_SHOWN] + ("..." if len(text) > _SHOWN else ""))


def entity_id(text: str, field: str) -> UUID:
    if not text:
        raise invalid_argument(field, "must not be empty")
    try:
        return UUID(text)
    except ValueError:
        raise invalid_argument(field, f"not an id: {shown(text)}") from None


def free_text(text: str, field: str, max_length: int) -> str | None:
    """Optional text that no value object checks: None when empty; refused with control characters or too long."""
    if len(text) > max_length:
        raise invalid_argument(field, f"must be at most {max_length} characters")
    if _CONTROL.search(text):
        raise invalid_argument(field, "must not contain control characters")
    return text or None


def page_size(value: int) -> int:
    """0 means the default; more than the maximum means the maximum; below 0 is a mistake."""
    if value < 0:
        raise invalid_argument("page_size", "must not be negative")
    return min(value, MAX_LIMIT) if value else DEFAULT_PAGE_SIZE


def page_token(text: str) -> str | None:
    return free_text(text, "page_token", 1000)


# --------------------------------------------------------------------------------------------------------------
# Statuses


def order_status(status: str | None) -> "orders_pb2.OrderStatus.ValueType":
    if status is None or status not in OrderStatus.__members__:
        return orders_pb2.ORDER_STATUS_UNSPECIFIED
    return orders_pb2.OrderStatus.Value(f"ORDER_STATUS_{status}")


def status_filter(value: int) -> str | None:
    """The status a list is filtered by; None for UNSPECIFIED (every status)."""
    if value == orders_pb2.ORDER_STATUS_UNSPECIFIED:
        return None
    try:
        return orders_pb2.OrderStatus.Name(value).removeprefix("ORDER_STATUS_")  # type: ignore[arg-type]
    except ValueError:
        raise invalid_argument("status", f"no order status has the number {value}") from None


def cancel_reason(reason: object) -> "orders_pb2.CancelReason.ValueType":
    if isinstance(reason, str) and reason in CancelReason.__members__:
        return orders_pb2.CancelReason.Value(f"CANCEL_REASON_{reason}")
    return orders_pb2.CANCEL_REASON_UNSPECIFIED


# --------------------------------------------------------------------------------------------------------------
# Products


def product_of_stock(stock: Stock) -> products_pb2.Product:
    """A product as a command just left it (the read model shows the same a moment later)."""
    product = products_pb2.Product(
        id=str(stock.id), sku=stock.sku, name=stock.name, price=str(stock.price), on_hand=stock.on_hand,
        reserved=stock.reserved, available=stock.available, discontinued=stock.discontinued, version=stock.version,
    )
    product.created_at.FromDatetime(stock.created_on)
    product.updated_at.FromDatetime(stock.modified_on)
    return product


def product_of_doc(doc: Mapping[str, Any]) -> products_pb2.Product:
    product = products_pb2.Product(
        id=str(doc["id"]), sku=str(doc.get("sku") or ""), name=str(doc.get("name") or ""),
        price=str(doc.get("price") or ""), on_hand=int(doc.get("on_hand", 0)), reserved=int(doc.get("reserved", 0)),
        available=int(doc.get("available", 0)), discontinued=bool(doc.get("discontinued", False)),
        version=int(doc.get("version", 0)),
    )
    _set_time(product.created_at, doc.get("created_at"))
    _set_time(product.updated_at, doc.get("updated_at"))
    return product


# --------------------------------------------------------------------------------------------------------------
# Orders


def order_of_doc(doc: Mapping[str, Any]) -> orders_pb2.Order:
    delivery = doc.get("delivery") or {}
    shipment = doc.get("shipment") or {}
    order = orders_pb2.Order(
        id=str(doc["id"]),
        customer_id=str(doc.get("customer_id") or ""),
        status=order_status(doc.get("status")),
        items=[orders_pb2.OrderLine(product_id=str(item["product_id"]), quantity=int(item["quantity"]),
                                    unit_price=str(item["unit_price"])) for item in doc.get("items") or []],
        total=str(doc.get("total") or ""),
        delivery=orders_pb2.Delivery(address=str(delivery.get("address") or ""), lat=float(delivery.get("lat", 0)),
                                     lng=float(delivery.get("lng", 0))),
        cancel_reason=cancel_reason(doc.get("cancel_reason")),
        cancel_note=str(doc.get("cancel_note") or ""),
        shipment_id=str(shipment.get("shipment_id") or ""),
        courier_id=str(doc.get("courier_id") or shipment.get("courier_id") or ""),
        version=int(doc.get("order_version", 0)),
    )
    _set_time(order.placed_at, doc.get("placed_at"))
    _set_time(order.updated_at, doc.get("updated_at"))
    return order


def status_update(order_id: UUID, change: StatusChange) -> orders_pb2.OrderStatusUpdate:
    reason = change.doc.get("cancel_reason") if change.status == OrderStatus.CANCELLED else None
    return orders_pb2.OrderStatusUpdate(order_id=str(order_id), status=order_status(change.status),
                                        position=change.outbox_id, cancel_reason=cancel_reason(reason),
                                        message=f"order {change.status}")


def _set_time(field: Timestamp, iso: object) -> None:
    if isinstance(iso, str) and iso:
        field.FromDatetime(datetime.fromisoformat(iso))
