"""An operator finds a parked event on /ops/parked, in a real Chromium, and retries it once the fix is deployed.

The poison is an event a newer version of the code wrote: an Order fact (`Order.Noted`) this code has no class
for. The orders context's read-model follower cannot decode it, parks it after its retries and goes on (another
customer's order placed after it appears). Then the platform is restarted with the newer code on its path, as a
deployment would, and the operator presses Retry on the page: the event reaches the order's timeline, and the
parked event is resolved, by name, in the audit of operators' actions.
"""

import sys
import textwrap
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Browser, expect

from adapters.database import Database, drop_database
from adapters.tokens import TokenIssuer
from composition.write_side import build_write_side
from scripts.processes import logistics_process
from tests.browser.conftest import htmx_settled
from tests.conftest import fresh_database, make_settings
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SECRET = "parked-test-secret-that-is-long-enough-for-hs256"
ORDERS_FOLLOWER = "readmodels-from-orders"
NEWER_CODE = '''
    """What a newer version of the platform knows and this one does not: a note on an order."""

    from domain.order import Order as _Order


    class Order:
        class Noted(_Order.Event):
            note: str
'''


def write_newer_event(database: Database, data_dir: Path, newer_code: Path, order_id: UUID, version: int) -> None:
    """Append `Order.Noted` to the order's stream as the newer code would (its module importable only here)."""
    sys.path.insert(0, str(newer_code))
    try:
        import newer_order_events  # type: ignore[import-not-found]

        noted = newer_order_events.Order.Noted(
            originator_id=order_id, originator_version=version, timestamp=datetime.now(UTC),
            note="leave it with the neighbour")
        with ExitStack() as stack:
            orders = build_write_side(database, make_settings(database, data_dir), stack).orders
            orders.recorder.insert_events([orders.mapper.to_stored_event(noted)])
    finally:
        sys.path.remove(str(newer_code))
        sys.modules.pop("newer_order_events", None)


def test_an_operator_sees_a_parked_event_and_retries_it_after_the_fix(
        pg_server: Database, browser: Browser, tmp_path: Path) -> None:
    database = fresh_database(pg_server)
    newer_code = tmp_path / "newer"
    newer_code.mkdir()
    (newer_code / "newer_order_events.py").write_text(textwrap.dedent(NEWER_CODE))
    tokens = TokenIssuer(SECRET)
    admin = {"Authorization": f"Bearer {tokens.issue('admin', 'ops')}"}
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none"),
           "LOGISTICS_DB_POOL_SIZE": "1", "LOGISTICS_DB_MAX_OVERFLOW": "3"}
    try:
        with logistics_process(["run"], env, tmp_path) as running, \
                httpx.Client(base_url=running.base_url, timeout=15) as http:
            def order(order_id: str) -> dict[str, Any]:
                return dict(http.get(f"/api/orders/{order_id}", headers=admin).json())

            def place(customer: str) -> str:
                customer_token = {"Authorization": f"Bearer {tokens.issue('customer', customer)}"}
                answer = http.post("/api/orders", headers=customer_token,
                                   json={"items": [{"product_id": product["id"], "quantity": 1}],
                                         "payment": {"token": "tok_decline"},
                                         "delivery": {"address": "Jl. Jaksa 5", "lat": -6.19, "lng": 106.82}})
                assert answer.status_code == 202, answer.text
                return str(answer.json()["order_id"])

            product = http.post("/api/products", headers=admin, json={
                "sku": "TEH-P", "name": "Teh Botol", "price": "5000.00", "initial_stock": 10}).json()
            first = place("poisoned-customer")
            cancelled = eventually(lambda: order(first).get("status") == "CANCELLED" and order(first), timeout=60,
                                   interval=0.2, what="a declined order")
            write_newer_event(database, tmp_path / "data", newer_code, UUID(first), int(cancelled["order_version"]) + 1)

            parked = eventually(lambda: http.get("/api/ops/parked", headers=admin).json()["items"], timeout=60,
                                interval=0.2, what="the parked event")
            assert [(item["follower"], item["status"]) for item in parked] == [(ORDERS_FOLLOWER, "parked")], parked
            assert "newer_order_events" in parked[0]["error"], parked[0]["error"]
            second = place("another-customer")
            eventually(lambda: order(second).get("status") == "CANCELLED", timeout=60, interval=0.2,
                       what="another customer's order, past the poison")

        # The fix deployed: the same platform, restarted with the newer code importable.
        with logistics_process(["run"], {**env, "PYTHONPATH": str(newer_code)}, tmp_path) as running, \
                httpx.Client(base_url=running.base_url, timeout=15) as http:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([{"name": "logistics_token", "value": tokens.issue("admin", "ops"),
                                  "domain": urlsplit(running.base_url).hostname or "127.0.0.1", "path": "/",
                                  "httpOnly": True, "sameSite": "Strict"}])
            page = context.new_page()
            page.goto(f"{running.base_url}/ops/parked")
            row = page.locator(f"tr[data-parked-id='{parked[0]['id']}']")
            expect(row).to_contain_text(ORDERS_FOLLOWER)
            expect(row).to_contain_text("Order.Noted")
            expect(row).to_contain_text("parked")
            expect(row.locator("summary")).to_contain_text("newer_order_events")
            htmx_settled(page)  # the list refreshes every 3 s: not in the middle of a swap
            row.get_by_role("button", name="Retry").click()
            expect(page.locator("#parked-live")).to_contain_text("Nothing is parked", timeout=30_000)

            page.goto(f"{running.base_url}/ops/parked?resolved=true")
            resolved = page.locator(f"tr[data-parked-id='{parked[0]['id']}']")
            expect(resolved).to_contain_text("retried")
            expect(resolved).to_contain_text("ops")
            context.close()
            timeline = [entry["event"] for entry in
                        http.get(f"/api/orders/{first}", headers=admin).json()["timeline"]]
            assert timeline[-1] == "Order.Noted", timeline
    finally:
        drop_database(pg_server, database.dbname)
