"""The command API over the real PostgreSQL, through Litestar's test client."""

from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from adapters.database import Database
from adapters.settings import Settings
from composition.write_side import Platform, open_platform
from tests.api.authorization import World, authorization_world
from tests.api.history import History, recorded_history
from web.command_api.app import create_command_api
from web.query_api.app import create_query_api

Headers = dict[str, str]


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    with open_platform(settings) as opened:
        yield opened


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_command_api(platform)) as test_client:
        yield test_client


# Package-scoped: these worlds hold their connections (about 50 together) only while tests/api runs, not
# through the end-to-end tests that follow, whose processes need PostgreSQL's connections for themselves.
@pytest.fixture(scope="package")
def history(pg_server: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """One recorded history for every query test: they only read, so they can share it."""
    with recorded_history(pg_server, tmp_path_factory.mktemp("history")) as recorded:
        yield recorded


@pytest.fixture(scope="package")
def history_client(history: History) -> Iterator[TestClient[Any]]:
    """The query API over the recorded history."""
    with TestClient(app=create_query_api(history.read)) as test_client:
        yield test_client


@pytest.fixture(scope="package")
def world(pg_server: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The authorization matrices' world (tests/api/authorization.py), shared by the HTTP and the gRPC one."""
    with authorization_world(pg_server, tmp_path_factory.mktemp("authorization")) as built:
        yield built


@pytest.fixture
def auth(platform: Platform) -> Callable[[str, str], Headers]:
    def headers(role: str, subject: str) -> Headers:
        return {"Authorization": f"Bearer {platform.tokens.issue(role, subject)}"}

    return headers


@pytest.fixture
def admin(auth: Callable[[str, str], Headers]) -> Headers:
    return auth("admin", "operator-1")


@pytest.fixture
def alice(auth: Callable[[str, str], Headers]) -> Headers:
    return auth("customer", "alice")


@pytest.fixture
def create_product(client: TestClient[Any], admin: Headers) -> Callable[..., dict[str, Any]]:
    def create(sku: str = "TEA-1", price: str = "3.50", initial_stock: int = 10, name: str = "Tea") -> dict[str, Any]:
        response = client.post("/api/products", json={"sku": sku, "name": name, "price": price,
                                                      "initial_stock": initial_stock}, headers=admin)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return create


def order_body(product_id: UUID | str, quantity: int = 1, token: str = "tok_ok",
               lat: float = -6.2, lng: float = 106.8) -> dict[str, Any]:
    return {
        "items": [{"product_id": str(product_id), "quantity": quantity}],
        "payment": {"token": token},
        "delivery": {"address": "Jl. M.H. Thamrin 1, Jakarta", "lat": lat, "lng": lng},
    }
