"""Orders over HTTP: placing, idempotency keys, cancelling, receipts, and who may do what."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

from litestar.testing import TestClient

from composition.write_side import Platform
from domain.base import message_context
from domain.order import OrderStatus
from tests.api.conftest import Headers, order_body

ProductFactory = Callable[..., dict[str, Any]]


def place(client: TestClient[Any], headers: Headers, body: dict[str, Any], key: str | None = None) -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/orders", json=body, headers={**headers, **extra})


def test_placing_an_order_answers_202_pending_with_location(
    client: TestClient[Any], alice: Headers, create_product: ProductFactory, platform: Platform
) -> None:
    product = create_product(price="2.50")
    response = place(client, alice, order_body(product["id"], quantity=3))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["position"] >= 1
    assert response.headers["location"] == f"/api/orders/{body['order_id']}"

    order = platform.write.orders.get_order(UUID(body["order_id"]))
    assert order.customer_id == "alice"
    assert str(order.total) == "7.50"
    assert order.lines[0].unit_price == order.total / 3
    placed = next(iter(platform.write.orders.events.get(order.id)))
    assert placed.correlation_id == body["order_id"]  # type: ignore[attr-defined]
    assert placed.causation_id.startswith("request:")  # type: ignore[attr-defined]


def test_invalid_orders_are_refused_naming_the_field(
    client: TestClient[Any], alice: Headers, admin: Headers, create_product: ProductFactory
) -> None:
    product = create_product()
    discontinued = create_product(sku="OLD")
    assert client.delete(f"/api/products/{discontinued['id']}", headers=admin).status_code == 204

    def with_items(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {**order_body(product["id"]), "items": items}

    cases = [
        (order_body(uuid4()), "items[0].product_id"),
        (order_body(discontinued["id"]), "items[0].product_id"),
        (order_body(product["id"], quantity=0), "items[0].quantity"),
        (with_items([]), "items"),
        (with_items([{"product_id": product["id"], "quantity": 1}] * 2), "items[1].product_id"),
        (order_body(product["id"], lat=91.0), "delivery.lat"),
        (order_body(product["id"], lng=-181.0), "delivery.lng"),
        (order_body(product["id"], token="tok_unknown"), "payment.token"),
    ]
    for body, field in cases:
        response = place(client, alice, body)
        assert 400 <= response.status_code < 500, (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [error["field"] for error in response.json()["errors"]], (field, response.text)


def test_the_same_idempotency_key_returns_the_first_answer(
    client: TestClient[Any], alice: Headers, create_product: ProductFactory, platform: Platform
) -> None:
    product = create_product()
    body = order_body(product["id"])
    first = place(client, alice, body, key="k-1")
    again = place(client, alice, body, key="k-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"

    different = place(client, alice, order_body(product["id"], quantity=2), key="k-1")
    assert different.status_code == 422
    assert different.headers["content-type"].startswith("application/problem+json")

    # Keys are the customer's own: bob's "k-1" is another request.
    bob = {"Authorization": f"Bearer {platform.tokens.issue('customer', 'bob')}"}
    assert place(client, bob, body, key="k-1").json()["order_id"] != first.json()["order_id"]


def test_concurrent_requests_with_one_key_place_one_order(
    client: TestClient[Any], alice: Headers, create_product: ProductFactory, platform: Platform
) -> None:
    product = create_product()
    body = order_body(product["id"])
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: place(client, alice, body, key="race"), range(6)))
    accepted = {response.json()["order_id"] for response in responses if response.status_code == 202}
    assert len(accepted) == 1
    assert {response.status_code for response in responses} <= {202, 409}
    orders_placed = [n for n in platform.write.orders.recorder.select_notifications(start=1, limit=100)
                     if n.topic.endswith("Order.Placed")]
    assert len(orders_placed) == 1


def test_a_refused_request_leaves_its_key_free(
    client: TestClient[Any], alice: Headers, create_product: ProductFactory
) -> None:
    product = create_product()
    assert place(client, alice, order_body(product["id"], quantity=0), key="k-2").status_code in (400, 422)
    assert place(client, alice, order_body(product["id"]), key="k-2").status_code == 202


def test_cancel_before_transit_and_not_after(
    client: TestClient[Any], alice: Headers, create_product: ProductFactory, platform: Platform
) -> None:
    product = create_product()
    order_id = place(client, alice, order_body(product["id"])).json()["order_id"]
    cancelled = client.post(f"/api/orders/{order_id}/cancel", json={"reason": "changed my mind"}, headers=alice)
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "CANCELLED"
    order = platform.write.orders.get_order(UUID(order_id))
    assert order.cancel_reason == "CUSTOMER_CANCELLED"
    assert order.cancel_note == "changed my mind"
    assert client.post(f"/api/orders/{order_id}/cancel", headers=alice).status_code == 409

    in_transit = place(client, alice, order_body(product["id"])).json()["order_id"]
    _advance(platform, UUID(in_transit), "in_transit")
    refused = client.post(f"/api/orders/{in_transit}/cancel", headers=alice)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert platform.write.orders.get_order(UUID(in_transit)).status is OrderStatus.IN_TRANSIT


def test_receipt_only_when_delivered(
    client: TestClient[Any], alice: Headers, create_product: ProductFactory, platform: Platform
) -> None:
    product = create_product()
    order_id = place(client, alice, order_body(product["id"])).json()["order_id"]
    assert client.post(f"/api/orders/{order_id}/receipt", headers=alice).status_code == 409
    _advance(platform, UUID(order_id), "delivered")
    receipt = client.post(f"/api/orders/{order_id}/receipt", headers=alice)
    assert receipt.status_code == 202
    assert receipt.json()["status"] == "RECEIVED"
    assert client.post(f"/api/orders/{order_id}/receipt", headers=alice).status_code == 409


def test_orders_belong_to_their_customer(
    client: TestClient[Any], alice: Headers, admin: Headers, auth: Callable[[str, str], Headers],
    create_product: ProductFactory,
) -> None:
    product = create_product()
    order_id = place(client, alice, order_body(product["id"])).json()["order_id"]
    bob = auth("customer", "bob")
    courier = auth("courier", str(uuid4()))
    assert client.post(f"/api/orders/{order_id}/cancel", headers=bob).status_code == 404
    assert client.post(f"/api/orders/{order_id}/receipt", headers=bob).status_code == 404
    assert client.post(f"/api/orders/{uuid4()}/cancel", headers=alice).status_code == 404
    assert client.post(f"/api/orders/{order_id}/cancel", headers=courier).status_code == 403
    assert place(client, courier, order_body(product["id"])).status_code == 403
    assert place(client, admin, order_body(product["id"])).status_code == 403
    assert client.post("/api/orders", json=order_body(product["id"])).status_code == 401
    assert client.post(f"/api/orders/{order_id}/cancel", headers=admin).status_code == 202


def test_two_concurrent_cancels_of_one_order(
    client: TestClient[Any], alice: Headers, create_product: ProductFactory, platform: Platform
) -> None:
    product = create_product()
    order_id = place(client, alice, order_body(product["id"])).json()["order_id"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = sorted(pool.map(
            lambda _: client.post(f"/api/orders/{order_id}/cancel", headers=alice).status_code, range(2)))
    assert codes == [202, 409]
    cancellations = [e for e in platform.write.orders.events.get(UUID(order_id)) if type(e).__name__ == "Cancelled"]
    assert len(cancellations) == 1


def _advance(platform: Platform, order_id: UUID, to: str) -> None:
    """Move an order along as the saga would (the saga itself is not part of these tests)."""
    orders = platform.write.orders
    with message_context(str(order_id), "test"):
        order = orders.get_order(order_id)
        order.record_stock_reserved()
        order.record_payment_authorized()
        order.mark_in_transit(uuid4(), uuid4())
        if to == "delivered":
            order.mark_delivered()
        orders.save(order)
