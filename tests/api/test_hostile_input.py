"""Hostile input at the command API's edge: refused with a clear 4xx naming what is wrong, never a 500.

Each case here was accepted (or answered 500) before the edge checked it: control characters in text,
absurdly nested JSON, numbers that are not money, bodies that are not JSON, duplicate keys, and a token
under another scheme than Bearer.
"""

import json
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from litestar.testing import TestClient

from composition.write_side import Platform
from tests.api.conftest import Headers, order_body
from web.auth import TOKEN_COOKIE

ProductFactory = Callable[..., dict[str, Any]]
NUL = "\u0000"


UNKNOWN = "0b9c2a64-7d51-4d1e-9a36-5d0c1f1e2a33"
"""An id nothing has: the body is refused before anyone looks for it."""


def field_of(response: Any) -> str:
    errors = response.json().get("errors") or [{}]
    return str(errors[0].get("field"))


def assert_refused(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    if field is not None:
        assert field_of(response) == field


class TestControlCharacters:
    def test_in_an_order_s_delivery_address(self, client: TestClient[Any], alice: Headers,
                                            create_product: ProductFactory, platform: Platform) -> None:
        product = create_product()
        body = order_body(product["id"])
        body["delivery"]["address"] = f"Jl. Jaksa {NUL} 5"

        assert_refused(client.post("/api/orders", json=body, headers=alice), 422, "delivery.address")
        assert platform.write.orders.head_position() == 0

    @pytest.mark.parametrize("character", ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085", "\n"])
    def test_in_a_product_name_when_created_and_renamed(self, client: TestClient[Any], admin: Headers,
                                                        create_product: ProductFactory, character: str) -> None:
        created = client.post("/api/products", json={"sku": "NUL-1", "name": f"Kopi{character}", "price": "1.00"},
                              headers=admin)
        assert_refused(created, 422, "name")

        product = create_product()
        renamed = client.patch(f"/api/products/{product['id']}", json={"name": f"Te{character}h"}, headers=admin)
        assert_refused(renamed, 422, "name")

    def test_in_a_restock_reason(self, client: TestClient[Any], admin: Headers, create_product: ProductFactory) -> None:
        product = create_product()
        response = client.post(f"/api/products/{product['id']}/restock", json={"quantity": 1, "reason": f"a{NUL}"},
                               headers=admin)
        assert_refused(response, 422, "reason")

    def test_in_a_cancel_reason(self, client: TestClient[Any], alice: Headers,
                                create_product: ProductFactory) -> None:
        placed = client.post("/api/orders", json=order_body(create_product()["id"]), headers=alice).json()
        response = client.post(f"/api/orders/{placed['order_id']}/cancel", json={"reason": f"no{NUL}"}, headers=alice)
        assert_refused(response, 422, "reason")

    def test_in_a_courier_name(self, client: TestClient[Any], admin: Headers) -> None:
        response = client.post("/api/couriers", json={"name": f"Budi{NUL}", "lat": -6.2, "lng": 106.8},
                               headers=admin)
        assert_refused(response, 422, "name")

    def test_in_a_key_of_the_body(self, client: TestClient[Any], admin: Headers) -> None:
        response = client.post("/api/products", json={"sku": "K-1", "name": "Kopi", "price": "1.00", f"x{NUL}": 1},
                               headers=admin)
        assert_refused(response, 422, f"x{NUL}")


class TestNesting:
    @pytest.mark.parametrize("depth", [33, 500, 1000, 100_000])
    def test_deeply_nested_json_is_refused_before_decoding(self, client: TestClient[Any], alice: Headers,
                                                            depth: int) -> None:
        body = "[" * depth + "]" * depth
        response = client.post("/api/orders", content=body, headers={**alice, "Content-Type": "application/json"})
        assert_refused(response, 400)
        assert "nested" in response.json()["detail"]

    @pytest.mark.parametrize(("method", "path"), [
        ("POST", "/api/products"), ("PATCH", f"/api/products/{UNKNOWN}"), ("POST", f"/api/products/{UNKNOWN}/restock"),
        ("POST", "/api/couriers"), ("POST", f"/api/couriers/{UNKNOWN}/location"),
        ("POST", f"/api/orders/{UNKNOWN}/cancel"), ("POST", "/api/ops/parked/1/skip"),
    ])
    def test_every_json_endpoint_refuses_deep_nesting(self, client: TestClient[Any], admin: Headers,
                                                      method: str, path: str) -> None:
        body = "[" * 1000 + "]" * 1000
        response = client.request(method, path, content=body, headers={**admin, "Content-Type": "application/json"})
        assert_refused(response, 400)

    def test_brackets_inside_strings_do_not_count(self, client: TestClient[Any], alice: Headers,
                                                  create_product: ProductFactory) -> None:
        body = order_body(create_product()["id"])
        body["delivery"]["address"] = "[" * 400
        response = client.post("/api/orders", json=body, headers=alice)
        assert response.status_code == 202, response.text


class TestNumbers:
    @pytest.mark.parametrize("price", ["1E+999999", "1e2", " 1.00", "1_000.00", "\u0663.\u0660\u0660", "0",
                                       "1000000000.01", "-1.00"])
    def test_a_price_is_a_plain_bounded_decimal_string(self, client: TestClient[Any], admin: Headers,
                                                        price: str) -> None:
        response = client.post("/api/products", json={"sku": "P-1", "name": "Kopi", "price": price}, headers=admin)
        assert_refused(response, 422, "price")

    @pytest.mark.parametrize("price", ["1E+999999", "1e2", "1_000.00", "0", "1000000000.01"])
    def test_a_renamed_or_repriced_product_keeps_to_the_same_rule(self, client: TestClient[Any], admin: Headers,
                                                                  create_product: ProductFactory, price: str) -> None:
        product = create_product()
        response = client.patch(f"/api/products/{product['id']}", json={"price": price}, headers=admin)
        assert_refused(response, 422, "price")

    def test_a_price_as_a_json_number_is_refused(self, client: TestClient[Any], admin: Headers) -> None:
        response = client.post("/api/products", json={"sku": "P-1", "name": "Kopi", "price": 12.5}, headers=admin)
        assert_refused(response, 422, "price")

    @pytest.mark.parametrize(("change", "field"), [
        (lambda body: body["items"][0].update(quantity="1"), "items[0].quantity"),
        (lambda body: body["items"][0].update(quantity=1000.0), "items[0].quantity"),
        (lambda body: body["items"][0].update(quantity=True), "items[0].quantity"),
        (lambda body: body["delivery"].update(lat="1"), "delivery.lat"),
        (lambda body: body["delivery"].update(lng=None), "delivery.lng"),
    ])
    def test_quantities_and_coordinates_are_numbers_of_the_declared_type(
        self, client: TestClient[Any], alice: Headers, create_product: ProductFactory,
        change: Callable[[dict[str, Any]], None], field: str,
    ) -> None:
        body = order_body(create_product()["id"])
        change(body)
        assert_refused(client.post("/api/orders", json=body, headers=alice), 422, field)

    def test_a_whole_latitude_is_still_a_number(self, client: TestClient[Any], alice: Headers,
                                                create_product: ProductFactory) -> None:
        body = order_body(create_product()["id"])
        body["delivery"]["lat"] = -6
        assert client.post("/api/orders", json=body, headers=alice).status_code == 202


class TestMediaTypes:
    @pytest.mark.parametrize("content_type", [
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
        "",
    ])
    def test_a_json_endpoint_answers_415_to_anything_but_json(self, client: TestClient[Any], platform: Platform,
                                                               content_type: str) -> None:
        # The shape of a cross-site forged request: the browser's own cookie, a "simple" content type.
        token = platform.tokens.issue("admin", "ops")
        body = json.dumps({"sku": "CSRF-1", "name": "Forged", "price": "1.00"})
        headers = {"Cookie": f"{TOKEN_COOKIE}={token}"}
        if content_type:
            headers["Content-Type"] = content_type
        response = client.post("/api/products", content=body, headers=headers)
        assert_refused(response, 415)
        assert platform.write.inventory.head_position() == 0

    def test_json_with_a_charset_is_json(self, client: TestClient[Any], admin: Headers) -> None:
        response = client.post("/api/products", content=json.dumps({"sku": "CS-1", "name": "Kopi", "price": "1.00"}),
                               headers={**admin, "Content-Type": "application/json; charset=utf-8"})
        assert response.status_code == 201, response.text

    def test_an_oversized_body_is_413(self, client: TestClient[Any], admin: Headers) -> None:
        body = json.dumps({"sku": "BIG-1", "name": "x" * (2 * 1024 * 1024), "price": "1.00"})
        response = client.post("/api/products", content=body, headers={**admin, "Content-Type": "application/json"})
        assert_refused(response, 413)


class TestLooseParsing:
    def test_duplicate_keys_are_refused(self, client: TestClient[Any], admin: Headers, platform: Platform) -> None:
        body = '{"sku": "DUP-1", "name": "Cheap", "price": "1.00", "price": "0.01"}'
        response = client.post("/api/products", content=body, headers={**admin, "Content-Type": "application/json"})
        assert_refused(response, 400)
        assert "'price' appears twice" in response.json()["detail"]
        assert platform.write.inventory.head_position() == 0

    def test_a_valid_token_under_the_basic_scheme_is_refused(self, client: TestClient[Any], platform: Platform) -> None:
        token = platform.tokens.issue("admin", "ops")
        response = client.post("/api/products", json={"sku": "B-1", "name": "Kopi", "price": "1.00"},
                               headers={"Authorization": f"Basic {token}"})
        assert_refused(response, 401)
        assert "Bearer" in response.json()["detail"]

    @pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
    def test_the_bearer_scheme_name_is_case_insensitive(self, client: TestClient[Any], platform: Platform,
                                                        scheme: str) -> None:
        token = platform.tokens.issue("admin", "ops")
        response = client.post("/api/products", json={"sku": f"S-{scheme}", "name": "Kopi", "price": "1.00"},
                               headers={"Authorization": f"{scheme} {token}"})
        assert response.status_code == 201, response.text

    def test_a_token_from_another_deployment_is_401_saying_why(self, client: TestClient[Any]) -> None:
        from adapters.tokens import TokenIssuer

        token = TokenIssuer("a-secret-of-another-deployment-long-enough").issue("admin", "ops")
        response = client.get(f"/api/couriers/{uuid4()}/assignment", headers={"Authorization": f"Bearer {token}"})
        assert_refused(response, 401)
        assert "another deployment" in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
