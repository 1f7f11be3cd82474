"""Products and stock over HTTP."""

from collections.abc import Callable
from typing import Any
from uuid import uuid4

from litestar.testing import TestClient

from tests.api.conftest import Headers

PROBLEM = "application/problem+json"


def test_create_product_answers_201_with_the_catalog_entry(client: TestClient[Any], admin: Headers) -> None:
    response = client.post("/api/products", json={"sku": "tea-1", "name": "Green tea", "price": "3.50",
                                                  "initial_stock": 12}, headers=admin)
    assert response.status_code == 201
    body = response.json()
    assert body["sku"] == "TEA-1"
    assert body["name"] == "Green tea"
    assert body["price"] == "3.50"
    assert body["on_hand"] == 12
    assert body["position"] >= 1


def test_an_existing_sku_is_409(client: TestClient[Any], admin: Headers,
                                create_product: Callable[..., dict[str, Any]]) -> None:
    first = create_product(sku="MUG")
    response = client.post("/api/products", json={"sku": "mug", "name": "Mug", "price": "1.00"}, headers=admin)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["existing_id"] == first["id"]


def test_invalid_product_fields_are_named(client: TestClient[Any], admin: Headers) -> None:
    cases = [
        ({"sku": "", "name": "x", "price": "1.00"}, "sku"),
        ({"sku": "A", "name": "x", "price": "-1"}, "price"),
        ({"sku": "A", "name": "x", "price": "1.001"}, "price"),
        ({"sku": "A", "name": "x", "price": "abc"}, "price"),
        ({"sku": "A", "name": "   ", "price": "1.00"}, "name"),
        ({"sku": "A", "name": "x", "price": "1.00", "initial_stock": -1}, "initial_stock"),
        ({"sku": "A b", "name": "x", "price": "1.00"}, "sku"),
        ({"sku": "A", "name": "x", "price": "1.00", "colour": "red"}, None),
    ]
    for body, field in cases:
        response = client.post("/api/products", json=body, headers=admin)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        if field:
            assert field in {error["field"] for error in response.json()["errors"]}, (body, response.text)
    json_headers = {**admin, "Content-Type": "application/json"}
    malformed = client.post("/api/products", content=b"{not json", headers=json_headers)
    assert malformed.status_code == 400


def test_update_discontinue_and_restock(client: TestClient[Any], admin: Headers,
                                        create_product: Callable[..., dict[str, Any]]) -> None:
    product = create_product(initial_stock=2)
    path = f"/api/products/{product['id']}"

    updated = client.patch(path, json={"price": "4.00"}, headers=admin)
    assert updated.status_code == 200
    assert updated.json()["price"] == "4.00"
    assert updated.json()["name"] == "Tea"

    restocked = client.post(f"{path}/restock", json={"quantity": 5, "reason": "supplier delivery"}, headers=admin)
    assert restocked.status_code == 202
    assert restocked.json()["on_hand"] == 7

    assert client.post(f"{path}/restock", json={"quantity": 0, "reason": "x"}, headers=admin).status_code in (400, 422)
    assert client.delete(path, headers=admin).status_code == 204
    assert client.delete(path, headers=admin).status_code == 204
    assert client.patch(path, json={"name": "New"}, headers=admin).status_code == 409
    assert client.post(f"{path}/restock", json={"quantity": 1, "reason": "x"}, headers=admin).status_code == 409


def test_unknown_product_is_404(client: TestClient[Any], admin: Headers) -> None:
    response = client.patch(f"/api/products/{uuid4()}", json={"name": "x"}, headers=admin)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert client.post(f"/api/products/{uuid4()}/restock", json={"quantity": 1, "reason": "x"},
                       headers=admin).status_code == 404
    assert client.patch("/api/products/not-a-uuid", json={"name": "x"}, headers=admin).status_code in (400, 404)


def test_products_need_an_admin(client: TestClient[Any], alice: Headers) -> None:
    body = {"sku": "X", "name": "x", "price": "1.00"}
    assert client.post("/api/products", json=body).status_code == 401
    assert client.post("/api/products", json=body, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    forbidden = client.post("/api/products", json=body, headers=alice)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith(PROBLEM)


def test_a_token_signed_with_another_secret_is_401(client: TestClient[Any]) -> None:
    from adapters.tokens import TokenIssuer

    forged = TokenIssuer("another-secret-that-is-long-enough-for-hs256").issue("admin", "eve")
    response = client.post("/api/products", json={"sku": "X", "name": "x", "price": "1.00"},
                           headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
