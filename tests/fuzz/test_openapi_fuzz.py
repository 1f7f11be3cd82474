"""Schemathesis over both OpenAPI documents, as each role, against the real processes on a seeded database.

Every check Schemathesis has runs: no 5xx; status codes, content types, headers and bodies as documented;
schema-valid requests accepted and invalid ones refused; authentication enforced. The run is bounded (a fixed
seed and a few dozen cases per operation) so that it fits the suite's time; `tests/fuzz/schemathesis_hooks.py`
says the two things the schemas cannot.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.database import Database
from adapters.tokens import TokenIssuer
from scripts.processes import ROOT, RunningProcess, background_process, logistics_process
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SECRET = "fuzz-secret-that-is-long-enough-for-hs256-signing"
SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
EXAMPLES_PER_OPERATION = 10
SEED = "20261201"


@dataclass
class Deployment:
    commands: RunningProcess
    queries: RunningProcess
    tokens: dict[str, str]
    """Role -> a bearer token for someone the seeded data knows."""


def _seed(commands: RunningProcess, tokens: TokenIssuer) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {tokens.issue('admin', 'ops')}"}
    alice = {"Authorization": f"Bearer {tokens.issue('customer', 'alice')}"}
    with httpx.Client(base_url=commands.base_url, timeout=30) as http:
        product_ids = []
        for sku, stock in (("TEH-1", 50), ("KOPI-1", 1), ("ROTI-1", 20)):
            created = http.post("/api/products", headers=admin,
                                json={"sku": sku, "name": sku.title(), "price": "3.50", "initial_stock": stock})
            assert created.status_code == 201, created.text
            product_ids.append(created.json()["id"])
        courier = http.post("/api/couriers", headers=admin, json={"name": "Ani", "lat": -6.2, "lng": 106.8})
        assert courier.status_code == 201, courier.text
        for product_id, token in zip(product_ids, ("tok_ok", "tok_decline", "tok_ok"), strict=True):
            placed = http.post("/api/orders", headers=alice, json={
                "items": [{"product_id": product_id, "quantity": 1}], "payment": {"token": token},
                "delivery": {"address": "Jl. Jaksa 5", "lat": -6.186, "lng": 106.83}})
            assert placed.status_code == 202, placed.text
    return {"admin": tokens.issue("admin", "ops"), "customer": tokens.issue("customer", "alice"),
            "courier": courier.json()["token"]}


@pytest.fixture(scope="module")
def deployment(pg_server: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    from adapters.database import drop_database
    from tests.conftest import fresh_database

    database = fresh_database(pg_server)
    log_dir = tmp_path_factory.mktemp("fuzz")
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET, "LOGISTICS_DATA_DIR": str(log_dir),
           "LOGISTICS_ENV_FILE": str(log_dir / "none"), "LOGISTICS_PAYMENT_TIMEOUT_S": "2"}
    try:
        with logistics_process(["command-api"], env, log_dir) as commands, \
                logistics_process(["query-api"], env, log_dir) as queries, \
                background_process(["worker"], env, log_dir), background_process(["projector"], env, log_dir):
            tokens = _seed(commands, TokenIssuer(SECRET))
            _wait_for_read_models(queries, tokens["admin"])
            yield Deployment(commands, queries, tokens)
    finally:
        drop_database(pg_server, database.dbname)


def _wait_for_read_models(queries: RunningProcess, admin: str) -> None:
    def listed() -> int:
        page = httpx.get(f"{queries.base_url}/api/orders", headers={"Authorization": f"Bearer {admin}"}).json()
        return len(page.get("items", []))

    eventually(lambda: listed() == 3, timeout=60, interval=0.2, what="the three seeded orders in the read models")


def run_schemathesis(base_url: str, token: str, report: Path) -> tuple[int, str]:
    """`st run` with every check; returns the number of test cases and the output."""
    done = subprocess.run(
        [SCHEMATHESIS, "run", f"{base_url}/schema/openapi.json", "--checks", "all",
         "--header", f"Authorization: Bearer {token}", "--max-examples", str(EXAMPLES_PER_OPERATION),
         "--seed", SEED, "--workers", "1", "--no-color", "--generation-database", "none",
         # Patterned text with length bounds is slow to generate, not wrong: the check is about generation.
         "--suppress-health-check", "filter_too_much",
         "--report", "junit", "--report-junit-path", str(report)],
        cwd=ROOT, env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.schemathesis_hooks"},
        capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", output)
    if done.returncode != 0:
        raise AssertionError(f"schemathesis at {base_url} failed:\n{output[-12000:]}")
    return int(generated.group(1)) if generated else 0, output


RUNS = [(document, role) for document in ("commands", "queries") for role in ("admin", "customer", "courier")]


def test_schemathesis_finds_nothing_in_either_document_as_any_role(deployment: Deployment, tmp_path: Path,
                                                                    record_property: Any) -> None:
    def run(document: str, role: str) -> tuple[str, str, int, str]:
        process = deployment.commands if document == "commands" else deployment.queries
        cases, output = run_schemathesis(process.base_url, deployment.tokens[role], tmp_path / f"{document}-{role}.xml")
        return document, role, cases, output

    # Three at a time: each run mostly waits for the server it tests. A run that finds anything raises here.
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda pair: run(*pair), RUNS))
    for document, role, cases, _ in results:
        print(f"schemathesis {document} as {role}: {cases} test cases")  # the figures for the notes
    record_property("schemathesis_cases", sum(cases for _, _, cases, _ in results))
    assert all(cases > 0 for _, _, cases, _ in results), [output[-2000:] for *_, output in results]
