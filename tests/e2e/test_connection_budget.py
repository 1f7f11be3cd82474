"""Every process keeps to its connection budget under load, measured in PostgreSQL itself.

Each process names its connections (`logistics <command> <pid>` as application_name), so pg_stat_activity
tells how many each holds; a sampler records the most of each while orders flow, the query API is read, and
health and metrics are probed. The budgets are the operations guide's (docs/operations.md).
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.database import Database
from adapters.tokens import TokenIssuer
from scripts.connection_sampler import ConnectionSampler
from scripts.processes import background_process, logistics_process
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SECRET = "budget-secret-that-is-long-enough-for-hs256-signing"
BUDGET = {"command-api": 19, "query-api": 5, "worker": 10, "projector": 7, "run": 20}
"""The most connections each process may hold at any moment (docs/operations.md, "Connection budget")."""
ORDERS = 120


def bearer(role: str, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TokenIssuer(SECRET).issue(role, subject)}"}


def drive(commands: str, queries: str, probes: list[str]) -> None:
    """Products, couriers and orders through the command API while the query API and every probe are read."""
    admin = bearer("admin", "ops")
    with httpx.Client(base_url=commands, timeout=60) as http:
        products = [http.post("/api/products", headers=admin, json={
            "sku": f"B-{index}", "name": f"Budget {index}", "price": "2.00", "initial_stock": 1000}).json()["id"]
            for index in range(4)]
        for index in range(6):
            http.post("/api/couriers", headers=admin, json={"name": f"C{index}", "lat": -6.2, "lng": 106.8})

    def place(index: int) -> None:
        with httpx.Client(timeout=60) as client:
            response = client.post(f"{commands}/api/orders", headers=bearer("customer", f"c{index % 7}"), json={
                "items": [{"product_id": products[index % 4], "quantity": 1}], "payment": {"token": "tok_ok"},
                "delivery": {"address": "Jl. Jaksa 5", "lat": -6.19, "lng": 106.82}})
            assert response.status_code == 202, response.text
            client.get(f"{queries}/api/orders", headers=bearer("customer", f"c{index % 7}"))
            for probe in probes:
                assert client.get(probe).status_code < 500, probe

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(place, range(ORDERS)))


def wait_for_quiet(queries: str, limit_s: float = 120) -> None:
    """Until every order is visible in the query API: the worker and projector have done their part."""
    admin = bearer("admin", "ops")

    def every_order_on() -> bool:
        seen: list[Any] = []
        cursor = None
        while True:
            page = httpx.get(f"{queries}/api/orders", headers=admin,
                             params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
            seen += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        return len(seen) >= ORDERS and all(order["status"] != "PENDING" for order in seen)

    eventually(every_order_on, timeout=limit_s, interval=0.5, what="the saga and the projector caught up")


@contextmanager
def environment(database: Database, tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none")}


def test_the_split_deployment_keeps_each_process_to_its_budget(database: Database, tmp_path: Path) -> None:
    with environment(database, tmp_path) as env, ExitStack() as stack:
        commands = stack.enter_context(logistics_process(["command-api"], env, tmp_path))
        queries = stack.enter_context(logistics_process(["query-api"], env, tmp_path))
        stack.enter_context(background_process(["worker", "--health-port", "0"], env, tmp_path))
        stack.enter_context(background_process(["projector"], env, tmp_path))
        with ConnectionSampler(database) as sampler:
            probes = [f"{url}/{path}" for url in (commands.base_url, queries.base_url)
                      for path in ("health/ready", "metrics")]
            drive(commands.base_url, queries.base_url, probes)
            wait_for_quiet(queries.base_url)
        most = dict(sampler.most)
    assert set(most) >= {"command-api", "query-api", "worker", "projector"}, most
    for process, count in most.items():
        assert count <= BUDGET[process], f"{process} held {count} connections (budget {BUDGET[process]}): {most}"
    print(f"most connections held: {most}")  # the figures for the operations guide


def test_the_all_in_one_run_stays_within_twenty_connections(database: Database, tmp_path: Path) -> None:
    with environment(database, tmp_path) as env, logistics_process(["run"], env, tmp_path) as run, \
            ConnectionSampler(database) as sampler:
        drive(run.base_url, run.base_url, [f"{run.base_url}/health/ready", f"{run.base_url}/metrics"])
        wait_for_quiet(run.base_url)
    assert 0 < sampler.most["run"] <= BUDGET["run"], dict(sampler.most)
    print(f"most connections held by `logistics run`: {sampler.most['run']}")
