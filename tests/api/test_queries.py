"""The query API's read models over a real recorded history: filters, pages, who may see what, bad input."""

import base64
import json
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from queries.pagination import MAX_LIMIT
from tests.api.history import LATE_ETA, Headers, History

Client = TestClient[Any]

PROBLEM = "application/problem+json"


def get_ok(client: Client, path: str, headers: Headers, **params: Any) -> Any:
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def walk(client: Client, path: str, headers: Headers, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of a list, following the cursors; no item may come twice and the last page has no cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        page = get_ok(client, path, headers, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == limit, "only the last page may be short"
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), "an item came twice"
    return items


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def forged_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


BAD_CURSORS = ["not-a-cursor", "%%%", forged_cursor("x"), forged_cursor("a", "b", "c"),
               forged_cursor("2025-01-01T00:00:00+00:00", "not-a-uuid"), forged_cursor("yesterday", "x"),
               forged_cursor("\x00"), forged_cursor("TEH\x00", "00000000-0000-0000-0000-000000000000"),
               base64.urlsafe_b64encode(b"\xff\xfe").decode()]


def assert_bad_input(client: Client, path: str, headers: Headers, **params: Any) -> None:
    """Every malformed parameter is the client's mistake: a 4xx problem, never a 500."""
    response = client.get(path, headers=headers, params=params)
    assert 400 <= response.status_code < 500, f"{path} {params}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM)


def assert_refused_text(client: Client, path: str, headers: Headers, parameter: str) -> None:
    """PostgreSQL text cannot hold NUL: such a filter is refused by name instead of failing in the driver."""
    response = client.get(path, headers=headers, params={parameter: "a\x00b"})
    assert assert_problem(response, 422)["errors"][0]["field"] == parameter


def assert_lists_reject_bad_input(client: Client, path: str, headers: Headers) -> None:
    for cursor in BAD_CURSORS:
        body = assert_problem(client.get(path, headers=headers, params={"cursor": cursor}), 422)
        assert body["errors"][0]["field"] == "cursor"
    for limit in ("0", "-1", str(MAX_LIMIT + 1), "many"):
        assert_bad_input(client, path, headers, limit=limit)


# Products


def test_products_come_by_sku_and_every_page_is_walked_without_gaps(
    history: History, history_client: Client
) -> None:
    everything = get_ok(history_client, "/api/products", history.admin, limit=MAX_LIMIT)
    assert everything["next_cursor"] is None
    skus = [item["sku"] for item in everything["items"]]
    assert sorted(skus) == sorted(history.products)
    assert skus == sorted(skus)
    for limit in (1, 2, 3, 7):
        assert ids(walk(history_client, "/api/products", history.admin, limit)) == ids(everything["items"])


def test_products_filter_by_discontinued_and_by_name_or_sku(history: History, history_client: Client) -> None:
    def skus(**params: Any) -> list[str]:
        return [item["sku"] for item in walk(history_client, "/api/products", history.customer("alice"), 2,
                                             **params)]

    assert skus(discontinued="true") == ["NASI-1"]
    assert skus(discontinued="false") == sorted(set(history.products) - {"NASI-1"})
    assert skus(q="teh") == ["ES-TEH", "TEH-1"]  # "Es Teh Manis" by name, "TEH-1" by sku and name
    assert skus(q="KoPi") == ["KOPI-1"]
    assert skus(q="goreng", discontinued="false") == []
    assert skus(q="goreng", discontinued="true") == ["NASI-1"]
    # The user's wildcards match only themselves.
    assert skus(q="%") == ["ARA-100"]
    assert skus(q="100%") == ["ARA-100"]
    assert skus(q="_") == []
    assert skus(q="-1") == ["ARA-100", "KOPI-1", "MIE-1", "NASI-1", "ROTI-1", "TEH-1"]


def test_a_product_shows_its_stock_after_the_days_orders(history: History, history_client: Client) -> None:
    tea = get_ok(history_client, f"/api/products/{history.products['TEH-1']}", history.customer("zoe"))
    # Two went out with o1; the declined o2's unit was released again.
    assert (tea["sku"], tea["name"], tea["price"]) == ("TEH-1", "Teh Botol", "3.50")
    assert (tea["on_hand"], tea["reserved"], tea["available"]) == (48, 0, 48)
    bread = get_ok(history_client, f"/api/products/{history.products['ROTI-1']}",
                   history.couriers["Budi"].headers)
    assert bread["price"] == "13.00"
    assert (bread["on_hand"], bread["reserved"], bread["available"]) == (10 + 5 - 1, 0, 14)
    coffee = get_ok(history_client, f"/api/products/{history.products['KOPI-1']}", history.admin)
    assert coffee["available"] == 1  # o3 asked for two and got none
    noodles = get_ok(history_client, f"/api/products/{history.products['MIE-1']}", history.admin)
    assert noodles["available"] == 10  # o5 was cancelled: its reservation was released
    assert get_ok(history_client, f"/api/products/{history.products['NASI-1']}", history.admin)["discontinued"]


def test_products_need_a_signed_in_caller_and_refuse_bad_input(history: History, history_client: Client) -> None:
    product = f"/api/products/{history.products['TEH-1']}"
    assert_problem(history_client.get("/api/products"), 401)
    assert_problem(history_client.get(product), 401)
    assert_problem(history_client.get(product, headers={"Authorization": "Bearer nonsense"}), 401)
    assert_problem(history_client.get("/api/products/00000000-0000-0000-0000-000000000000",
                                      headers=history.admin), 404)
    assert_bad_input(history_client, "/api/products/not-a-uuid", history.admin)
    assert_bad_input(history_client, "/api/products", history.admin, discontinued="perhaps")
    assert_bad_input(history_client, "/api/products", history.admin, q="")
    assert_bad_input(history_client, "/api/products", history.admin, q="x" * 101)
    assert_refused_text(history_client, "/api/products", history.admin, "q")
    assert_lists_reject_bad_input(history_client, "/api/products", history.admin)


# Orders


def test_customers_list_their_own_orders_newest_first(history: History, history_client: Client) -> None:
    alice = history.customer("alice")
    mine = walk(history_client, "/api/orders", alice, 1)
    assert ids(mine) == [history.orders["o2"], history.orders["o1"]]
    assert ids(walk(history_client, "/api/orders", alice, 5, customer_id="alice")) == ids(mine)
    assert ids(walk(history_client, "/api/orders", alice, 5, status="CANCELLED")) == [history.orders["o2"]]
    assert_problem(history_client.get("/api/orders", headers=alice, params={"customer_id": "bob"}), 403)
    assert walk(history_client, "/api/orders", history.customer("nobody"), 5) == []


def test_operators_list_every_order_filtered_and_paged(history: History, history_client: Client) -> None:
    everything = walk(history_client, "/api/orders", history.admin, MAX_LIMIT)
    assert sorted(ids(everything)) == sorted(history.orders.values())
    placed = [item["placed_at"] for item in everything]
    assert placed == sorted(placed, reverse=True)
    for limit in (1, 2, 4):
        assert ids(walk(history_client, "/api/orders", history.admin, limit)) == ids(everything)

    def keys(**params: Any) -> set[str]:
        by_id = {order_id: key for key, order_id in history.orders.items()}
        return {by_id[item["id"]] for item in walk(history_client, "/api/orders", history.admin, 2, **params)}

    assert keys(status="CANCELLED") == {"o2", "o3", "o5"}
    assert keys(status="RECEIVED") == {"o1", "o4"}
    assert keys(status="IN_TRANSIT") == {"o6"}
    assert keys(customer_id="bob") == {"o3", "o4"}
    assert keys(customer_id="bob", status="RECEIVED") == {"o4"}


def test_an_order_is_seen_by_its_customer_and_operators_only(history: History, history_client: Client) -> None:
    path = f"/api/orders/{history.orders['o1']}"
    order = get_ok(history_client, path, history.customer("alice"))
    assert order["status"] == "RECEIVED"
    assert order["payment"]["status"] == "CAPTURED"
    assert order["shipment"]["status"] == "DELIVERED"
    assert order["courier_id"] == history.couriers["Ani"].id
    assert get_ok(history_client, path, history.admin) == order
    # Someone else's order is as missing as one that never was.
    assert_problem(history_client.get(path, headers=history.customer("bob")), 404)
    assert_problem(history_client.get(path, headers=history.couriers["Ani"].headers), 403)
    assert_problem(history_client.get(path), 401)
    assert_problem(history_client.get("/api/orders/00000000-0000-0000-0000-000000000000",
                                      headers=history.admin), 404)
    assert_refused_text(history_client, "/api/orders", history.admin, "status")
    assert_refused_text(history_client, "/api/orders", history.admin, "customer_id")
    declined = get_ok(history_client, f"/api/orders/{history.orders['o2']}", history.customer("alice"))
    assert (declined["status"], declined["cancel_reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert_lists_reject_bad_input(history_client, "/api/orders", history.admin)


# Shipments


def test_operators_list_shipments_filtered_and_paged(history: History, history_client: Client) -> None:
    everything = walk(history_client, "/api/shipments", history.admin, MAX_LIMIT)
    assert sorted(ids(everything)) == sorted(history.shipments.values())
    for limit in (1, 3):
        assert ids(walk(history_client, "/api/shipments", history.admin, limit)) == ids(everything)

    def keys(**params: Any) -> set[str]:
        by_id = {shipment_id: key for key, shipment_id in history.shipments.items()}
        return {by_id[item["id"]] for item in walk(history_client, "/api/shipments", history.admin, 1, **params)}

    ani, budi = history.couriers["Ani"].id, history.couriers["Budi"].id
    assert keys(status="DELIVERED") == {"o1", "o4"}
    assert keys(status="IN_TRANSIT") == {"o6"}
    assert keys(status="CANCELLED") == {"o5"}
    assert keys(status="WAITING_FOR_COURIER") == set()
    assert keys(courier_id=ani) == {"o1", "o6"}
    assert keys(courier_id=budi) == {"o4"}
    assert keys(courier_id=ani, status="DELIVERED") == {"o1"}
    assert keys(customer_id="carol") == {"o5"}
    assert_bad_input(history_client, "/api/shipments", history.admin, status="LOST")
    assert_bad_input(history_client, "/api/shipments", history.admin, courier_id="Ani")
    assert_refused_text(history_client, "/api/shipments", history.admin, "customer_id")
    assert_lists_reject_bad_input(history_client, "/api/shipments", history.admin)


def test_a_courier_lists_the_shipments_it_carried_only(history: History, history_client: Client) -> None:
    ani, budi = history.couriers["Ani"], history.couriers["Budi"]
    assert sorted(ids(walk(history_client, "/api/shipments", ani.headers, 1))) == sorted(
        [history.shipments["o1"], history.shipments["o6"]])
    assert ids(walk(history_client, "/api/shipments", ani.headers, 5, courier_id=ani.id)) == ids(
        walk(history_client, "/api/shipments", ani.headers, 5))
    assert ids(walk(history_client, "/api/shipments", ani.headers, 5, status="IN_TRANSIT")) == [
        history.shipments["o6"]]
    assert ids(walk(history_client, "/api/shipments", budi.headers, 5)) == [history.shipments["o4"]]
    assert_problem(history_client.get("/api/shipments", headers=ani.headers, params={"courier_id": budi.id}), 403)
    assert walk(history_client, "/api/shipments", history.bearer("courier", "not-an-id"), 5) == []
    assert_problem(history_client.get("/api/shipments", headers=history.customer("alice")), 403)
    assert_problem(history_client.get("/api/shipments"), 401)


def test_a_shipment_comes_with_every_position_of_its_track(history: History, history_client: Client) -> None:
    path = f"/api/shipments/{history.shipments['o1']}"
    body = get_ok(history_client, path, history.admin)
    shipment, track = body["shipment"], body["track"]
    assert shipment["order_id"] == history.orders["o1"]
    assert (shipment["status"], shipment["courier_id"]) == ("DELIVERED", history.couriers["Ani"].id)
    # Where Ani was when she was assigned and when she picked it up, then the two positions she reported.
    assert [(point["lat"], point["lng"]) for point in track] == [(-6.19, 106.82), (-6.19, 106.82),
                                                                 (-6.195, 106.81), (-6.199, 106.802)]
    versions = [point["version"] for point in track]
    assert versions == sorted(versions)
    times = [point["at"] for point in track]
    assert times == sorted(times)
    assert shipment["track_points"] == len(track)

    waiting_then_taken = get_ok(history_client, f"/api/shipments/{history.shipments['o6']}", history.admin)
    assert len(waiting_then_taken["track"]) == 3  # assigned, picked up, one checkpoint
    assert (waiting_then_taken["shipment"]["status"], waiting_then_taken["shipment"]["eta"]) == (
        "IN_TRANSIT", LATE_ETA.isoformat())
    assert waiting_then_taken["shipment"]["picked_up_at"] is not None
    cancelled = get_ok(history_client, f"/api/shipments/{history.shipments['o5']}", history.customer("carol"))
    assert (cancelled["shipment"]["status"], cancelled["track"]) == ("CANCELLED", [])


def test_a_shipment_is_seen_by_its_customer_its_courier_and_operators(
    history: History, history_client: Client
) -> None:
    path = f"/api/shipments/{history.shipments['o1']}"
    expected = get_ok(history_client, path, history.admin)
    assert get_ok(history_client, path, history.customer("alice")) == expected
    assert get_ok(history_client, path, history.couriers["Ani"].headers) == expected
    # Anyone else gets what a missing shipment gets.
    assert_problem(history_client.get(path, headers=history.customer("bob")), 404)
    assert_problem(history_client.get(path, headers=history.couriers["Budi"].headers), 404)
    assert_problem(history_client.get(path), 401)
    assert_problem(history_client.get("/api/shipments/00000000-0000-0000-0000-000000000000",
                                      headers=history.admin), 404)
    assert_bad_input(history_client, "/api/shipments/not-a-uuid", history.admin)


# Couriers


def test_operators_list_couriers_by_name_and_status(history: History, history_client: Client) -> None:
    ani, budi = history.couriers["Ani"].id, history.couriers["Budi"].id
    everything = walk(history_client, "/api/couriers", history.admin, 1)
    assert ids(everything) == [ani, budi]
    assert [item["name"] for item in everything] == ["Ani", "Budi"]
    assert ids(walk(history_client, "/api/couriers", history.admin, 5, status="AVAILABLE")) == [budi]
    assert ids(walk(history_client, "/api/couriers", history.admin, 5, status="BUSY")) == [ani]
    assert everything[0]["shipment_id"] == history.shipments["o6"]
    # A carrying courier's route is its shipment's: the courier's own position is where it was last free.
    assert everything[0]["position"]["lat"] == -6.19
    assert [item["on_duty"] for item in everything] == [True, True]
    assert_bad_input(history_client, "/api/couriers", history.admin, status="ASLEEP")
    assert_lists_reject_bad_input(history_client, "/api/couriers", history.admin)


def test_a_courier_sees_itself_only(history: History, history_client: Client) -> None:
    ani, budi = history.couriers["Ani"], history.couriers["Budi"]
    assert ids(walk(history_client, "/api/couriers", ani.headers, 5)) == [ani.id]
    assert walk(history_client, "/api/couriers", ani.headers, 5, status="AVAILABLE") == []
    me = get_ok(history_client, f"/api/couriers/{ani.id}", ani.headers)
    assert (me["name"], me["status"]) == ("Ani", "BUSY")
    assert get_ok(history_client, f"/api/couriers/{ani.id}", history.admin) == me
    assert_problem(history_client.get(f"/api/couriers/{budi.id}", headers=ani.headers), 403)
    # Refused before the lookup: another courier's id, real or not, tells a courier nothing.
    assert_problem(history_client.get("/api/couriers/00000000-0000-0000-0000-000000000000", headers=ani.headers),
                   403)
    assert_problem(history_client.get("/api/couriers/00000000-0000-0000-0000-000000000000",
                                      headers=history.admin), 404)
    assert_problem(history_client.get("/api/couriers", headers=history.customer("alice")), 403)
    assert_problem(history_client.get(f"/api/couriers/{ani.id}", headers=history.customer("alice")), 403)
    assert_problem(history_client.get("/api/couriers"), 401)
    assert walk(history_client, "/api/couriers", history.bearer("courier", "not-an-id"), 5) == []


# The query side cannot write


@pytest.mark.parametrize("statement", [
    "INSERT INTO read.outbox (message_id, routing_key, aggregate_id, body) "
    "VALUES ('x', 'x', gen_random_uuid(), '{}')",
    "UPDATE read.orders SET status = 'RECEIVED'",
    "DELETE FROM read.audit_events",
    "INSERT INTO orders.orders_events (originator_id, originator_version, topic, state) "
    "VALUES (gen_random_uuid(), 1, 'x', '')",
    "CREATE TABLE read.sneaky (id int)",
])
def test_the_query_sides_connections_refuse_to_write(history: History, statement: str) -> None:
    with history.read.pool.connection() as connection, pytest.raises(psycopg.errors.ReadOnlySqlTransaction,
                                                                     match="read-only transaction"):
        connection.execute(statement)


def test_the_openapi_document_names_and_illustrates_every_read(history_client: Client) -> None:
    schema = get_ok(history_client, "/schema/openapi.json", {})
    operations = {operation["operationId"]: operation for path in schema["paths"].values()
                  for operation in path.values() if isinstance(operation, dict) and "operationId" in operation}
    illustrated = {"ListProducts", "GetProduct", "ListShipments", "GetShipment", "ListCouriers", "GetCourier",
                   "ListAuditEvents", "GetAuditStream", "GetAggregateStateAtVersion", "GetAuditTrace"}
    assert illustrated | {"ListOrders", "GetOrder"} <= operations.keys()
    for name in illustrated:
        examples = operations[name]["responses"]["200"]["content"]["application/json"]["examples"]
        assert examples, name
