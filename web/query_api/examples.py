"""Example answers for the query API's OpenAPI document, so that a client sees real shapes, not just types."""

from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example

from web.query_api.schemas import (
    AggregateState,
    AuditEventPage,
    CourierPage,
    ProductPage,
    ShipmentPage,
    ShipmentWithTrack,
    TracePage,
)

ORDER_ID = "0b9e2f7c-3f0e-4c53-9d8e-2a4f6d1c7b10"
PRODUCT_ID = "5d1f6a0e-8c2b-5e4f-9a7d-3b6c1e2f4a80"
SHIPMENT_ID = "7a3c9e1b-2d4f-5a6b-8c0d-1e2f3a4b5c60"
COURIER_ID = "c41e8b2a-6f3d-4e5a-9b7c-0d1e2f3a4b50"

PRODUCT = {
    "id": PRODUCT_ID, "sku": "TEA-001", "name": "Jasmine tea", "price": "3.50", "initial_stock": 100,
    "discontinued": False, "created_at": "2025-03-01T08:00:00+00:00", "updated_at": "2025-03-01T09:12:44+00:00",
    "on_hand": 98, "reserved": 2, "available": 96, "version": 3,
}
COURIER = {
    "id": COURIER_ID, "name": "Budi", "status": "BUSY", "shipment_id": SHIPMENT_ID,
    "registered_at": "2025-03-01T07:30:00+00:00", "updated_at": "2025-03-01T09:15:02+00:00",
    "position": {"lat": -6.1862, "lng": 106.8291, "at": "2025-03-01T09:15:02+00:00"}, "version": 7,
}
SHIPMENT = {
    "id": SHIPMENT_ID, "order_id": ORDER_ID, "customer_id": "alice", "status": "IN_TRANSIT",
    "destination": {"address": "Jl. M.H. Thamrin 1, Jakarta", "lat": -6.195, "lng": 106.823},
    "courier_id": COURIER_ID, "position": {"lat": -6.1862, "lng": 106.8291, "at": "2025-03-01T09:15:02+00:00"},
    "created_at": "2025-03-01T09:12:40+00:00", "assigned_at": "2025-03-01T09:12:40+00:00", "delivered_at": None,
    "track_points": 2, "updated_at": "2025-03-01T09:15:02+00:00", "version": 3,
}
PLACED = {
    "event_id": "e3b0c442-98fc-5c14-9afb-f4c8996fb924", "context": "orders", "position": 41,
    "aggregate_type": "Order", "aggregate_id": ORDER_ID, "version": 1, "event_type": "Order.Placed",
    "occurred_at": "2025-03-01T09:12:38.120000+00:00", "correlation_id": ORDER_ID,
    "causation_id": "request:6f1d2c3b", "data": {
        "customer_id": "alice", "total": "7.00", "payment_token": "***",
        "lines": [{"product_id": PRODUCT_ID, "quantity": 2, "unit_price": "3.50"}],
        "delivery": {"address": "Jl. M.H. Thamrin 1, Jakarta", "lat": -6.195, "lng": 106.823}},
}
HELD = {
    "event_id": "a1c2e3f4-5b6d-5e7f-8a9b-0c1d2e3f4a5b", "context": "inventory", "position": 77,
    "aggregate_type": "StockReservation", "aggregate_id": "9f8e7d6c-5b4a-5392-8170-6f5e4d3c2b1a", "version": 2,
    "event_type": "StockReservation.Held", "occurred_at": "2025-03-01T09:12:38.310000+00:00",
    "correlation_id": ORDER_ID, "causation_id": "Orders:41", "data": {"order_id": ORDER_ID},
}


def _ok(model: type, description: str, value: Any) -> dict[int, ResponseSpec]:
    return {200: ResponseSpec(data_container=model, description=description, generate_examples=False,
                              examples=[Example(summary=description, value=value)])}


PRODUCT_PAGE = _ok(ProductPage, "A page of products", {"items": [PRODUCT], "next_cursor": None})
PRODUCT_DOC = _ok(dict[str, Any], "A product with its stock levels", PRODUCT)
COURIER_PAGE = _ok(CourierPage, "A page of couriers", {"items": [COURIER], "next_cursor": None})
COURIER_DOC = _ok(dict[str, Any], "A courier with its last position", COURIER)
SHIPMENT_PAGE = _ok(ShipmentPage, "A page of shipments", {"items": [SHIPMENT], "next_cursor": None})
SHIPMENT_TRACK = _ok(ShipmentWithTrack, "A shipment and every position it was at", {
    "shipment": SHIPMENT,
    "track": [{"version": 2, "at": "2025-03-01T09:12:40+00:00", "lat": -6.2, "lng": 106.8},
              {"version": 3, "at": "2025-03-01T09:15:02+00:00", "lat": -6.1862, "lng": 106.8291}],
})
AUDIT_PAGE = _ok(AuditEventPage, "A page of the audit log",
                 {"items": [PLACED, HELD], "next_cursor": "WyIyMDI1LTAzLTAxVDA5OjEyOjM4LjMxKzAwOjAwIiwgImExYzIiXQ"})
STREAM_PAGE = _ok(AuditEventPage, "An aggregate's events in version order", {"items": [PLACED], "next_cursor": None})
TRACE_PAGE = _ok(TracePage, "What one order caused, across contexts", {
    "correlation_id": ORDER_ID,
    "items": [{**PLACED, "caused_by": {"kind": "request", "request_id": "6f1d2c3b"}},
              {**HELD, "caused_by": {"kind": "event", "event_id": PLACED["event_id"], "context": "orders",
                                     "position": 41, "event_type": "Order.Placed", "aggregate_id": ORDER_ID}}],
    "next_cursor": None,
})
AGGREGATE_STATE = _ok(AggregateState, "An order as it was at version 2", {
    "aggregate_id": ORDER_ID, "aggregate_type": "Order", "context": "orders", "version": 2, "current_version": 5,
    "created_on": "2025-03-01T09:12:38.120000+00:00", "modified_on": "2025-03-01T09:12:38.420000+00:00",
    "state": {"customer_id": "alice", "total": "7.00", "payment_token": "***", "status": "PENDING",
              "cancel_reason": None, "cancel_note": None, "stock_reserved": True, "payment_authorized": False,
              "shipment_id": None, "courier_id": None},
    "changed": {"stock_reserved": {"before": False, "after": True}},
    "event": {"event_id": "0c7d9a4e-1f2b-5c3d-8e4f-5a6b7c8d9e0f", "type": "Order.StockReserved", "version": 2,
              "occurred_at": "2025-03-01T09:12:38.420000+00:00", "correlation_id": ORDER_ID,
              "causation_id": "Inventory:77", "data": {}},
})
