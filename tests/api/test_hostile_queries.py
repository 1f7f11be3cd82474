"""Hostile input at the query API's edge: parameters with control characters, and one rule for a bad parameter."""

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.api.history import History

Client = TestClient[Any]


def assert_invalid_parameter(response: Any, parameter: str, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].startswith("https://")
    assert [error["field"] for error in body["errors"]] == [parameter]


@pytest.mark.parametrize(("path", "parameter"), [
    ("/api/products?q=te%00h", "q"),
    ("/api/orders?customer_id=alice%00", "customer_id"),
    ("/api/orders?status=PENDING%00", "status"),
    ("/api/audit/events?type=Order%00", "type"),
    ("/api/audit/events?correlation_id=%00", "correlation_id"),
    ("/api/audit/events?context=orders%1b", "context"),
    ("/api/products?cursor=%00", "cursor"),
    ("/api/audit/trace/abc%00def", "correlation_id"),
    ("/api/products?x%00=1", "x\u0000"),
])
def test_a_control_character_in_any_parameter_is_422_naming_it(history_client: Client, history: History,
                                                                path: str, parameter: str) -> None:
    assert_invalid_parameter(history_client.get(path, headers=history.admin), parameter)


def test_the_status_stream_treats_a_missing_and_a_malformed_order_id_alike(history_client: Client,
                                                                           history: History) -> None:
    missing = history_client.get("/api/orders/stream", headers=history.admin)
    malformed = history_client.get("/api/orders/stream?order_id=xyz", headers=history.admin)

    assert_invalid_parameter(missing, "order_id")
    assert_invalid_parameter(malformed, "order_id")


@pytest.mark.parametrize(("path", "parameter"), [
    ("/api/audit/events?aggregate_id=null", "aggregate_id"),
    ("/api/products?discontinued=null", "discontinued"),
    ("/api/products?limit=5&limit=6", "limit"),
    ("/api/audit/events?aggregate_id=00000000-0000-0000-0000-000000000001&aggregate_id=null", "aggregate_id"),
    ("/api/audit/events?since=0.5", "since"),
    ("/api/orders?status=LOST", "status"),
    ("/api/products?cursor=", "cursor"),
])
def test_a_parameter_given_twice_null_or_loosely_typed_is_422(history_client: Client, history: History, path: str,
                                                              parameter: str) -> None:
    assert_invalid_parameter(history_client.get(path, headers=history.admin), parameter)


def test_null_is_still_text_where_text_is_expected(history_client: Client, history: History) -> None:
    response = history_client.get("/api/products?q=null", headers=history.admin)
    assert response.status_code == 200, response.text
