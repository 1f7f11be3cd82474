"""The web UI in a real Chromium against the real all-in-one process (`logistics run`) on PostgreSQL.

A customer orders from the shop and watches the order go CONFIRMED and then IN_TRANSIT, and the courier's
marker move on the map, all without reloading the page; an operator then steps the order's stream back to its
first version. Screenshots of every step go to tests/artifacts/.

Chromium is Debian's (`apt-get install chromium`, which `./dev test` does when it is missing), driven by
Playwright's Python client; Playwright's own browser downloads are never used. A missing Chromium fails the
test rather than skipping it.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from adapters.database import Database
from adapters.tokens import TokenIssuer
from scripts.processes import ROOT, RunningProcess, logistics_process
from tests.browser.conftest import htmx_settled, refreshes
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SECRET = "browser-test-secret-that-is-long-enough-for-hs256"
ARTIFACTS = ROOT / "tests" / "artifacts"
WAIT_MS = 30_000
Headers = dict[str, str]

# The saga, the projector and the push run in the background: give every expectation time to come true.
expect.set_options(timeout=WAIT_MS)


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def platform(database: Database, tmp_path: Path) -> Iterator[RunningProcess]:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_DEMO": "true", "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none"),
           # Small pools: one browser's worth of traffic, on a server other test runs share.
           "LOGISTICS_DB_POOL_SIZE": "1", "LOGISTICS_DB_MAX_OVERFLOW": "3"}
    with logistics_process(["run"], env, tmp_path) as running:
        yield running


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


class Api:
    """The command and query API over HTTP, as other actors of the story than the browser's user."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)
        self.tokens = TokenIssuer(SECRET)

    def as_(self, role: str, subject: str) -> Headers:
        return bearer(self.tokens.issue(role, subject))

    def call(self, method: str, path: str, headers: Headers, json: Any = None, expect_status: int = 202) -> Any:
        response = self.http.request(method, path, headers=headers, json=json)
        assert response.status_code == expect_status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def pick_up(self, courier: dict[str, Any], order_id: str) -> None:
        """Once the courier is assigned the order's shipment, it picks the goods up: the order goes in transit."""
        auth = bearer(courier["token"])

        def assigned() -> dict[str, Any] | None:
            job: dict[str, Any] = self.call("GET", f"/api/couriers/{courier['id']}/assignment", auth,
                                            expect_status=200)
            return job if job.get("order_id") == order_id and job.get("shipment_status") == "ASSIGNED" else None

        job = eventually(assigned, timeout=30, interval=0.2, what=f"the courier assigned order {order_id}")
        self.call("POST", f"/api/shipments/{job['shipment_id']}/picked-up", auth)

    def order_status(self, order_id: str, customer: str) -> str | None:
        response = self.http.get(f"/api/orders/{order_id}", headers=self.as_("customer", customer))
        return response.json().get("status") if response.status_code == 200 else None


def test_customer_follows_an_order_live_and_operator_steps_back_its_history(
        platform: RunningProcess, browser: Browser) -> None:
    api = Api(platform.base_url)
    admin = api.as_("admin", "ops")
    product = api.call("POST", "/api/products", admin, {"sku": "KOPI-UI", "name": "Kopi Susu Gula Aren",
                                                        "price": "25000.00", "initial_stock": 20}, 201)
    courier = api.call("POST", "/api/couriers", admin, {"name": "Ani", "lat": -6.19, "lng": 106.82}, 201)
    courier_auth = bearer(courier["token"])

    # Someone else's order keeps the only courier busy, so ours waits CONFIRMED until the courier is free.
    first = api.call("POST", "/api/orders", api.as_("customer", "early-bird"), {
        "items": [{"product_id": product["id"], "quantity": 1}], "payment": {"token": "tok_ok"},
        "delivery": {"address": "Jl. Jaksa 5", "lat": -6.186, "lng": 106.83}})
    api.pick_up(courier, first["order_id"])
    eventually(lambda: api.order_status(first["order_id"], "early-bird") == "IN_TRANSIT", timeout=30, interval=0.2,
               what="the first order in transit")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)

    # Sign in as a demo customer.
    page.goto(f"{platform.base_url}/")
    expect(page).to_have_url(f"{platform.base_url}/login")
    shot(page, "01-login")
    page.get_by_role("button", name="demo-customer-1").click()
    expect(page).to_have_url(f"{platform.base_url}/shop")
    expect(page.locator(f'tr[data-product-id="{product["id"]}"]')).to_contain_text("Kopi Susu Gula Aren")

    # Place an order from the product list.
    page.locator(f'input[data-item="{product["id"]}"]').fill("2")
    page.locator('select[name="payment.token"]').select_option("tok_ok")
    shot(page, "02-shop")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(f"{platform.base_url}/orders/*")
    order_id = page.url.rsplit("/", 1)[-1]
    status = page.locator("#order-status")

    # From here on the page must never reload: a marker on `window` would not survive one.
    page.evaluate("window.__stillTheSamePage = true")
    expect(page.locator("#live-indicator")).to_have_text("live")
    expect(status).to_have_text("Confirmed")
    shot(page, "03-order-confirmed")

    # The first delivery is done and received: the courier is free and takes our order.
    assignment = api.call("GET", f"/api/couriers/{courier['id']}/assignment", courier_auth, expect_status=200)
    api.call("POST", f"/api/shipments/{assignment['shipment_id']}/delivered", courier_auth)
    eventually(lambda: api.order_status(first["order_id"], "early-bird") == "DELIVERED", timeout=30, interval=0.2,
               what="the first order delivered")
    api.call("POST", f"/api/orders/{first['order_id']}/receipt", api.as_("customer", "early-bird"))
    # Ani takes ours: on her way to pick it up, then with the goods on the way to us.
    expect(page.locator('#delivery-steps [data-delivery-step="assigned"]')).not_to_have_class("delivery-step todo")
    api.pick_up(courier, order_id)
    expect(status).to_have_text("In transit")
    marker = page.locator("#courier-marker")
    expect(marker).to_be_visible()
    assert page.evaluate("window.__stillTheSamePage") is True
    shot(page, "04-order-in-transit")

    # The courier drives towards the customer: the marker moves on the map.
    before = (marker.get_attribute("cx"), marker.get_attribute("cy"))
    api.call("POST", f"/api/couriers/{courier['id']}/location", courier_auth, {"lat": -6.188, "lng": 106.826})
    expect(marker).not_to_have_attribute("cx", before[0] or "")
    after = (marker.get_attribute("cx"), marker.get_attribute("cy"))
    assert after != before
    expect(page.locator("#courier-route")).to_be_attached()
    assert page.evaluate("window.__stillTheSamePage") is True
    shot(page, "05-courier-moved")

    # The operator opens the order's stream and steps back to its first version.
    operator = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    operator.set_default_timeout(WAIT_MS)
    operator.goto(f"{platform.base_url}/login")
    operator.get_by_role("button", name="Operator (ops)").click()
    expect(operator).to_have_url(f"{platform.base_url}/ops/dashboard")
    operator.goto(f"{platform.base_url}/ops")
    expect(operator.locator(f'tr[data-order-id="{order_id}"]')).to_contain_text("In transit")
    shot(operator, "06-operator-board")
    operator.goto(f"{platform.base_url}/ops/audit?aggregate_id={order_id}")
    expect(operator.locator("#audit-rows")).to_contain_text("Order.Placed")
    shot(operator, "07-audit-log")
    operator.goto(f"{platform.base_url}/ops/audit/streams/{order_id}")
    slider = operator.locator("#version-slider")
    expect(slider).to_be_visible()
    latest = slider.get_attribute("max")
    assert latest is not None
    assert int(latest) >= 4
    expect(operator.locator("#state-status")).to_have_text("IN_TRANSIT")
    slider.focus()
    operator.keyboard.press("Home")  # the range input's own key: to its minimum, firing `input`
    expect(operator.locator("#version-label")).to_have_text("Version 1")
    expect(operator.locator("#state-status")).to_have_text("PENDING")
    htmx_settled(operator)
    shot(operator, "08-stream-version-1")
    operator.locator('button[data-step="1"]').click()
    expect(operator.locator("#version-label")).to_have_text("Version 2")
    operator.goto(f"{platform.base_url}/ops/audit/trace/{order_id}")
    expect(operator.locator("#trace-rows")).to_contain_text("Order.Confirmed")
    shot(operator, "09-trace")
    operator.goto(f"{platform.base_url}/ops/couriers")
    expect(operator.locator(f'g.map-pin[data-courier-id="{courier["id"]}"]')).to_have_class("map-pin pin-busy")
    shot(operator, "10-couriers")
    operator.goto(f"{platform.base_url}/ops/products")
    expect(operator.locator(f'tr[data-product-id="{product["id"]}"]')).to_contain_text("KOPI-UI")
    shot(operator, "11-products")

    # Products and stock through the operator's forms, which post JSON to the command API. Each command
    # refreshes the table twice; the next click waits for both, or it may land on a row about to be replaced.
    operator.on("dialog", lambda dialog: dialog.accept())  # "Discontinue …?"
    create = operator.locator("#create-product")
    create.locator('input[name="sku"]').fill("TEH-UI")
    create.locator('input[name="name"]').fill("Teh Tarik")
    create.locator('input[name="price"]').fill("12000.00")
    create.locator('input[name="initial_stock"]').fill("5")
    with refreshes(operator, "products-table", times=2):
        create.get_by_role("button", name="Create product").click()
    row = operator.locator("#products-table tr", has_text="TEH-UI")
    expect(row).to_contain_text("Teh Tarik")
    available = row.locator("td.num").nth(3)
    expect(available).to_have_text("5")
    htmx_settled(operator)
    row.locator("summary").click()
    row.locator('form[action$="/restock"] input[name="quantity"]').fill("7")
    with refreshes(operator, "products-table", times=2):
        row.get_by_role("button", name="Restock").click()
    expect(available).to_have_text("12")
    # The row's panel stays open through the table's refresh, with its answer beside the button.
    expect(row.locator("details")).to_have_attribute("open", "")
    expect(row.locator('form[action$="/restock"] [data-result]')).to_have_text("Done.")
    row.locator('form[data-method="PATCH"] input[name="name"]').fill("Teh Tarik Panas")
    with refreshes(operator, "products-table", times=2):
        row.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("Teh Tarik Panas")
    row.get_by_role("button", name="Discontinue").click()
    expect(row).to_contain_text("discontinued")
    shot(operator, "12-products-changed")
    operator.goto(f"{platform.base_url}/ops/status")
    expect(operator.locator("#followers")).to_contain_text("read model orders")
    shot(operator, "13-status")

    # The courier, signed in as itself, sees where to take our order.
    courier_page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    courier_page.goto(f"{platform.base_url}/login")
    courier_page.get_by_role("button", name="Ani").click()
    expect(courier_page).to_have_url(f"{platform.base_url}/courier")
    expect(courier_page.locator("#courier-status")).to_have_text("Busy")
    expect(courier_page.locator(f'#assignment-live [data-order-id="{order_id}"]')).to_be_attached()
    expect(courier_page.locator("#destination")).to_contain_text("Jakarta")
    shot(courier_page, "14-courier")

    # The customer's page followed all along; on a phone it stacks into one column.
    assert page.evaluate("window.__stillTheSamePage") is True
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#order-map")).to_be_visible()
    shot(page, "15-order-on-a-phone")
