"""The audit log over a real recorded history: the event list, streams, past states from the event store, and
one order's trace across the contexts."""

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from litestar.testing import TestClient

from queries.pagination import MAX_LIMIT
from tests.api.history import Headers, History
from tests.api.test_queries import BAD_CURSORS, assert_bad_input, assert_problem, assert_refused_text, get_ok

Client = TestClient[Any]

ORDER_LIFE = ["Order.Placed", "Order.StockReserved", "Order.PaymentAuthorized", "Order.Confirmed",
              "Order.InTransit", "Order.Delivered", "Order.Received"]
CONTEXTS = {"orders", "inventory", "payments", "shipping"}


def walk_events(client: Client, path: str, headers: Headers, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of an event list, following the cursors; no event may come twice."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        page = get_ok(client, path, headers, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == limit, "only the last page may be short"
    event_ids = [item["event_id"] for item in items]
    assert len(event_ids) == len(set(event_ids)), "an event came twice"
    return items


def event_ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["event_id"] for item in items]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def in_time_order(items: list[dict[str, Any]]) -> bool:
    keys = [(moment(item["occurred_at"]), item["event_id"]) for item in items]
    return keys == sorted(keys)


def count(history: History, where: str = "true", *params: Any) -> int:
    with history.database.connect() as connection:
        row = connection.execute(f"SELECT count(*) FROM read.audit_events WHERE {where}", params).fetchone()
    assert row is not None
    return int(row[0])


def test_the_audit_log_is_for_operators_only(history: History, history_client: Client) -> None:
    order_id = history.orders["o1"]
    paths = ["/api/audit/events", f"/api/audit/streams/{order_id}", f"/api/audit/streams/{order_id}/state",
             f"/api/audit/trace/{order_id}"]
    for path in paths:
        assert_problem(history_client.get(path), 401)
        assert_problem(history_client.get(path, headers=history.customer("alice")), 403)
        assert_problem(history_client.get(path, headers=history.couriers["Ani"].headers), 403)
        assert history_client.get(path, headers=history.admin).status_code == 200


# The event list


def test_every_event_is_listed_once_in_time_order_across_pages(history: History, history_client: Client) -> None:
    everything = walk_events(history_client, "/api/audit/events", history.admin, MAX_LIMIT)
    assert len(everything) == count(history)
    assert in_time_order(everything)
    assert {item["context"] for item in everything} == CONTEXTS
    for limit in (1, 7, 50):
        assert event_ids(walk_events(history_client, "/api/audit/events", history.admin, limit)) == \
            event_ids(everything)
    # Secrets stay in the event store.
    placed = [item for item in everything if item["event_type"] == "Order.Placed"]
    assert {item["data"]["payment_token"] for item in placed} == {"***"}


def test_events_filter_by_context_aggregate_type_and_correlation(history: History, history_client: Client) -> None:
    def listed(**params: Any) -> list[dict[str, Any]]:
        items = walk_events(history_client, "/api/audit/events", history.admin, 10, **params)
        assert in_time_order(items)
        return items

    payments = listed(context="payments")
    assert {item["context"] for item in payments} == {"payments"}
    assert len(payments) == count(history, "context = 'payments'")
    assert event_ids(listed(context="PAYMENTS")) == event_ids(payments)

    o1 = listed(aggregate_id=history.orders["o1"])
    assert [item["event_type"] for item in o1] == ORDER_LIFE
    assert [item["version"] for item in o1] == list(range(1, 8))

    placed = listed(type="Order.Placed")
    assert sorted(item["aggregate_id"] for item in placed) == sorted(history.orders.values())
    every_payment = listed(type="Payment")
    assert {item["aggregate_type"] for item in every_payment} == {"Payment"}
    assert len(every_payment) == count(history, "aggregate_type = 'Payment'")
    assert listed(type="Order.Teleported") == []

    o4 = listed(correlation_id=history.orders["o4"])
    assert {item["correlation_id"] for item in o4} == {history.orders["o4"]}
    assert len(o4) == count(history, "correlation_id = %s", history.orders["o4"])
    shipping_o4 = listed(correlation_id=history.orders["o4"], context="shipping")
    assert event_ids(shipping_o4) == [item["event_id"] for item in o4 if item["context"] == "shipping"]
    assert listed(correlation_id="request:nobody-sent-this") == []


def test_events_between_two_times(history: History, history_client: Client) -> None:
    everything = walk_events(history_client, "/api/audit/events", history.admin, MAX_LIMIT)
    since, until = moment(everything[10]["occurred_at"]), moment(everything[40]["occurred_at"])
    expected = [item["event_id"] for item in everything if since <= moment(item["occurred_at"]) < until]
    assert expected

    def between(since_text: str, until_text: str) -> list[str]:
        return event_ids(walk_events(history_client, "/api/audit/events", history.admin, 9, since=since_text,
                                     until=until_text))

    assert between(since.isoformat(), until.isoformat()) == expected
    # A time without an offset is UTC; another offset names the same instant.
    naive = between(since.replace(tzinfo=None).isoformat(), until.replace(tzinfo=None).isoformat())
    assert naive == expected
    jakarta = timezone(timedelta(hours=7))
    assert between(since.astimezone(jakarta).isoformat(), until.astimezone(jakarta).isoformat()) == expected
    assert between(since.isoformat(), since.isoformat()) == []
    only_since = event_ids(walk_events(history_client, "/api/audit/events", history.admin, 50,
                                       since=since.isoformat()))
    assert only_since == [item["event_id"] for item in everything if moment(item["occurred_at"]) >= since]
    only_until = event_ids(walk_events(history_client, "/api/audit/events", history.admin, 50,
                                       until=until.isoformat()))
    assert only_until == [item["event_id"] for item in everything if moment(item["occurred_at"]) < until]


def test_the_event_list_refuses_bad_input(history: History, history_client: Client) -> None:
    path, admin = "/api/audit/events", history.admin
    body = assert_problem(history_client.get(path, headers=admin, params={
        "since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"}), 422)
    assert body["errors"][0]["field"] == "since"
    body = assert_problem(history_client.get(path, headers=admin, params={"context": "nowhere"}), 422)
    assert body["errors"][0]["field"] == "context"
    for params in ({"since": "yesterday"}, {"until": "2025-13-01T00:00:00Z"}, {"since": "1700000000x"},
                   {"aggregate_id": "not-a-uuid"}, {"limit": "0"}, {"limit": str(MAX_LIMIT + 1)},
                   {"type": "x" * 201}):
        assert_bad_input(history_client, path, admin, **params)
    for cursor in BAD_CURSORS:
        body = assert_problem(history_client.get(path, headers=admin, params={"cursor": cursor}), 422)
        assert body["errors"][0]["field"] == "cursor"
    for parameter in ("type", "correlation_id"):
        assert_refused_text(history_client, path, admin, parameter)


# Streams


def test_a_stream_lists_one_aggregates_events_in_version_order(history: History, history_client: Client) -> None:
    path = f"/api/audit/streams/{history.orders['o1']}"
    events = walk_events(history_client, path, history.admin, MAX_LIMIT)
    assert [item["event_type"] for item in events] == ORDER_LIFE
    assert [item["version"] for item in events] == list(range(1, 8))
    for limit in (1, 3):
        assert event_ids(walk_events(history_client, path, history.admin, limit)) == event_ids(events)

    shipment = walk_events(history_client, f"/api/audit/streams/{history.shipments['o1']}", history.admin, 2)
    assert [item["event_type"] for item in shipment] == [
        "Shipment.Created", "Shipment.CourierAssigned", "Shipment.PickedUp", "Shipment.RouteCheckpoint",
        "Shipment.RouteCheckpoint", "Shipment.Delivered"]
    assert_problem(history_client.get("/api/audit/streams/00000000-0000-0000-0000-000000000000",
                                      headers=history.admin), 404)
    assert_bad_input(history_client, "/api/audit/streams/not-a-uuid", history.admin)
    for cursor in BAD_CURSORS:
        assert_problem(history_client.get(path, headers=history.admin, params={"cursor": cursor}), 422)


# Past states, from the event store


def state(history: History, client: Client, aggregate_id: str, version: int | None = None) -> dict[str, Any]:
    params = {"version": version} if version is not None else {}
    body: dict[str, Any] = get_ok(client, f"/api/audit/streams/{aggregate_id}/state", history.admin, **params)
    return body


def test_an_order_at_version_one_and_at_its_latest(history: History, history_client: Client) -> None:
    order_id = history.orders["o1"]
    first = state(history, history_client, order_id, 1)
    assert (first["aggregate_id"], first["aggregate_type"], first["context"]) == (order_id, "Order", "orders")
    assert (first["version"], first["current_version"]) == (1, 7)
    assert first["state"]["status"] == "PENDING"
    assert "_status" not in first["state"]
    assert first["state"]["customer_id"] == "alice"
    assert first["state"]["total"] == "7.00"
    assert first["state"]["lines"] == [{"product_id": history.products["TEH-1"], "quantity": 2,
                                        "unit_price": "3.50"}]
    assert (first["state"]["stock_reserved"], first["state"]["shipment_id"]) == (False, None)
    assert first["state"]["payment_token"] == "***"
    # Everything the creation set changed from nothing; what it left empty (null to null) did not change.
    assert first["changed"].keys() == {key for key, value in first["state"].items() if value is not None}
    assert "shipment_id" not in first["changed"]
    assert all(change["before"] is None for change in first["changed"].values())
    assert first["changed"]["status"] == {"before": None, "after": "PENDING"}
    assert first["event"]["type"] == "Order.Placed"
    assert first["event"]["version"] == 1
    assert first["event"]["data"]["payment_token"] == "***"
    assert first["event"]["correlation_id"] == order_id
    assert first["event"]["causation_id"].startswith("request:")
    assert first["created_on"] == first["modified_on"] == first["event"]["occurred_at"]

    latest = state(history, history_client, order_id)
    assert (latest["version"], latest["current_version"]) == (7, 7)
    assert latest["state"]["status"] == "RECEIVED"
    assert latest["state"]["shipment_id"] == history.shipments["o1"]
    assert latest["state"]["courier_id"] == history.couriers["Ani"].id
    assert (latest["state"]["stock_reserved"], latest["state"]["payment_authorized"]) == (True, True)
    assert latest["changed"] == {"status": {"before": "DELIVERED", "after": "RECEIVED"}}
    assert latest["event"]["type"] == "Order.Received"
    assert latest["created_on"] == first["created_on"]
    assert state(history, history_client, order_id, 7) == latest


def test_each_version_shows_what_its_event_changed(history: History, history_client: Client) -> None:
    order_id = history.orders["o1"]
    stream = walk_events(history_client, f"/api/audit/streams/{order_id}", history.admin, MAX_LIMIT)
    changes = {}
    for version in range(1, 8):
        at = state(history, history_client, order_id, version)
        # The store and the audit log tell of the same event at each version.
        assert at["event"]["event_id"] == stream[version - 1]["event_id"]
        assert at["event"]["type"] == stream[version - 1]["event_type"]
        changes[version] = at["changed"]
    assert changes[2] == {"stock_reserved": {"before": False, "after": True}}
    assert changes[3] == {"payment_authorized": {"before": False, "after": True}}
    assert changes[4] == {"status": {"before": "PENDING", "after": "CONFIRMED"}}
    assert changes[5] == {
        "status": {"before": "CONFIRMED", "after": "IN_TRANSIT"},
        "shipment_id": {"before": None, "after": history.shipments["o1"]},
        "courier_id": {"before": None, "after": history.couriers["Ani"].id},
    }
    assert changes[6] == {"status": {"before": "IN_TRANSIT", "after": "DELIVERED"}}

    declined = state(history, history_client, history.orders["o2"])
    assert declined["state"]["status"] == "CANCELLED"
    assert declined["state"]["cancel_reason"] == "PAYMENT_DECLINED"
    assert "_cancel_reason" not in declined["state"]


def test_other_aggregates_at_their_versions(history: History, history_client: Client) -> None:
    shipment = state(history, history_client, history.shipments["o1"])
    assert (shipment["aggregate_type"], shipment["context"]) == ("Shipment", "shipping")
    assert shipment["state"]["status"] == "DELIVERED"
    assert shipment["state"]["position"] == {"lat": -6.199, "lng": 106.802}
    assigned = state(history, history_client, history.shipments["o1"], 2)
    assert assigned["changed"]["status"] == {"before": "WAITING_FOR_COURIER", "after": "ASSIGNED"}
    assert assigned["changed"]["courier_id"] == {"before": None, "after": history.couriers["Ani"].id}
    picked_up = state(history, history_client, history.shipments["o1"], 3)
    assert picked_up["changed"]["status"] == {"before": "ASSIGNED", "after": "IN_TRANSIT"}

    ani = state(history, history_client, history.couriers["Ani"].id)
    assert (ani["aggregate_type"], ani["state"]["status"]) == ("Courier", "BUSY")
    assert ani["state"]["shipment_id"] == history.shipments["o6"]
    product = get_ok(history_client, f"/api/products/{history.products['TEH-1']}", history.admin)
    stock = state(history, history_client, history.products["TEH-1"])
    assert (stock["aggregate_type"], stock["context"]) == ("Stock", "inventory")
    assert stock["version"] == product["version"]

    # No card token leaves the event store, whichever aggregate carried it.
    payment_events = walk_events(history_client, "/api/audit/events", history.admin, MAX_LIMIT, type="Payment")
    for payment_id in {item["aggregate_id"] for item in payment_events}:
        for version in (1, None):
            response = history_client.get(f"/api/audit/streams/{payment_id}/state", headers=history.admin,
                                          params={"version": version} if version else {})
            assert response.status_code == 200
            assert "tok_ok" not in response.text
            assert "tok_decline" not in response.text


def test_past_states_refuse_versions_that_never_were(history: History, history_client: Client) -> None:
    path = f"/api/audit/streams/{history.orders['o1']}/state"
    for version in ("0", "-3", "one"):
        assert_bad_input(history_client, path, history.admin, version=version)
    body = assert_problem(history_client.get(path, headers=history.admin, params={"version": 8}), 422)
    assert body["errors"][0]["field"] == "version"
    assert_problem(history_client.get("/api/audit/streams/00000000-0000-0000-0000-000000000000/state",
                                      headers=history.admin), 404)
    assert_bad_input(history_client, "/api/audit/streams/not-a-uuid/state", history.admin)


# Traces


def trace(history: History, client: Client, correlation_id: str, limit: int = MAX_LIMIT) -> list[dict[str, Any]]:
    return walk_events(client, f"/api/audit/trace/{correlation_id}", history.admin, limit)


def cause_of(items: list[dict[str, Any]], event_type: str) -> str:
    """The type of the event that caused the (one) event of this type."""
    (event,) = [item for item in items if item["event_type"] == event_type]
    cause = event["caused_by"]
    assert cause["kind"] == "event", event
    by_id = {item["event_id"]: item for item in items}
    return str(by_id[cause["event_id"]]["event_type"])


def assert_causes_resolved(items: list[dict[str, Any]]) -> None:
    by_id = {item["event_id"]: item for item in items}
    for item in items:
        cause = item["caused_by"]
        assert cause is not None, item
        if item["causation_id"].startswith("request:"):
            assert cause == {"kind": "request", "request_id": item["causation_id"].removeprefix("request:")}
            continue
        if not item["causation_id"].rpartition(":")[2].isdigit():
            # One of the platform's own loops (the route's checkpointer, the courier watch, the dispatch sweep).
            assert cause == {"kind": "process", "process": item["causation_id"]}
            continue
        assert cause["kind"] == "event"
        # `Orders:12` is the event at notification 12 of the Orders log, and it came first.
        application, position = item["causation_id"].split(":")
        assert (cause["context"], cause["position"]) == (application.lower(), int(position))
        causing = by_id[cause["event_id"]]
        assert (causing["context"], causing["position"]) == (cause["context"], cause["position"])
        assert cause["event_type"] == causing["event_type"]
        assert moment(causing["occurred_at"]) <= moment(item["occurred_at"])


def test_a_trace_follows_one_order_across_every_context(history: History, history_client: Client) -> None:
    order_id = history.orders["o4"]
    items = trace(history, history_client, order_id)
    assert {item["context"] for item in items} == CONTEXTS
    assert {item["correlation_id"] for item in items} == {order_id}
    assert in_time_order(items)
    assert len(items) == count(history, "correlation_id = %s", order_id)
    assert_causes_resolved(items)
    assert items[0]["event_type"] == "Order.Placed"
    assert items[0]["caused_by"]["kind"] == "request"
    assert cause_of(items, "StockReservation.Requested") == "Order.Placed"
    assert cause_of(items, "Payment.Requested") == "Order.Placed"
    assert cause_of(items, "Order.StockReserved") == "StockReservation.Held"
    assert cause_of(items, "Order.PaymentAuthorized") == "Payment.Authorized"
    assert cause_of(items, "Shipment.Created") == "Order.Confirmed"
    assert cause_of(items, "Shipment.CourierAssigned") == "Order.Confirmed"
    assert cause_of(items, "Order.InTransit") == "Shipment.PickedUp"
    assert cause_of(items, "Payment.Captured") == "Order.InTransit"
    assert cause_of(items, "StockReservation.Committed") == "Order.InTransit"
    assert cause_of(items, "Order.Delivered") == "Shipment.Delivered"
    assert cause_of(items, "Courier.BecameAvailable") == "Order.Received"
    # Pages resolve causes that sit on earlier pages too.
    for limit in (1, 4):
        assert trace(history, history_client, order_id, limit) == items


def test_a_cancelled_orders_trace_shows_the_compensations(history: History, history_client: Client) -> None:
    items = trace(history, history_client, history.orders["o5"])
    assert_causes_resolved(items)
    (cancelled,) = [item for item in items if item["event_type"] == "Order.Cancelled"]
    assert cancelled["caused_by"]["kind"] == "request"
    assert cancelled["data"]["note"] == "changed my mind"
    assert cause_of(items, "Payment.Voided") == "Order.Cancelled"
    assert cause_of(items, "StockReservation.Released") == "Order.Cancelled"
    assert cause_of(items, "Shipment.Cancelled") == "Order.Cancelled"

    out_of_stock = trace(history, history_client, history.orders["o3"])
    assert_causes_resolved(out_of_stock)
    assert cause_of(out_of_stock, "Order.Cancelled") == "StockReservation.Rejected"


@pytest.mark.parametrize("correlation_id", ["00000000-0000-0000-0000-000000000000", "request:nobody", "x"])
def test_an_unknown_trace_is_not_found(history: History, history_client: Client, correlation_id: str) -> None:
    assert_problem(history_client.get(f"/api/audit/trace/{correlation_id}", headers=history.admin), 404)


def test_a_trace_refuses_bad_input(history: History, history_client: Client) -> None:
    path = f"/api/audit/trace/{history.orders['o1']}"
    for cursor in BAD_CURSORS:
        assert_problem(history_client.get(path, headers=history.admin, params={"cursor": cursor}), 422)
    for limit in ("0", str(MAX_LIMIT + 1), "all"):
        assert_bad_input(history_client, path, history.admin, limit=limit)
    body = assert_problem(history_client.get("/api/audit/trace/a%00b", headers=history.admin), 422)
    assert body["errors"][0]["field"] == "correlation_id"
