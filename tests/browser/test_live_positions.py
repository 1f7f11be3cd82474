"""Couriers' positions on the new path, in a real Chromium: the order page's marker and ETA, the operators' map.

`logistics run` is fed from the real RabbitMQ (an exchange of this test's own). The courier reports through
`POST /api/couriers/{id}/location`, the position path: stored in `tracking`, published on the broker, pushed.
No event is written for a report (the checkpointer is minutes away), so the read models never move: a marker
that moves was moved by a push frame, projected in the browser as the server projects (checked against
`MapFrame.project`), and the ETA the page shows is the one the position path estimated for that report.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from adapters.database import Database
from scripts.movement import Point, distance_m
from scripts.processes import RunningProcess, logistics_process
from tests.browser.conftest import refreshes
from tests.browser.test_ui import SECRET, WAIT_MS, Api, bearer, shot
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually
from web.pages.maps import MapFrame

pytestmark = pytest.mark.e2e

DELIVERY = (-6.186, 106.83)


@pytest.fixture
def platform(database: Database, tmp_path: Path, rabbit: RabbitEnv) -> Iterator[RunningProcess]:
    env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_DEMO": "true", "LOGISTICS_SECRET": SECRET,
           "LOGISTICS_DATA_DIR": str(tmp_path / "data"), "LOGISTICS_ENV_FILE": str(tmp_path / "none"),
           "LOGISTICS_AMQP_URL": rabbit.url, "LOGISTICS_AMQP_EXCHANGE": rabbit.exchange,
           "LOGISTICS_DB_POOL_SIZE": "1", "LOGISTICS_DB_MAX_OVERFLOW": "3"}
    with logistics_process(["run"], env, tmp_path) as running:
        yield running


class PositionPath:
    """One courier's app reporting through the command API, at a courier's pace: each point at least as long
    after the one before as 20 m/s needs to get there (so that no report is a GPS jump), and never before now
    (the page shows only positions newer than what it has)."""

    def __init__(self, api: Api, courier: dict[str, Any]) -> None:
        self._api = api
        self._courier = courier
        self._last: tuple[Point, datetime] | None = None

    def report(self, lat: float, lng: float) -> dict[str, Any]:
        now = datetime.now(UTC).replace(microsecond=0)
        at = now
        if self._last is not None:
            point, before = self._last
            gap = timedelta(seconds=max(1.0, distance_m(point, Point(lat, lng)) / 20.0))
            at = max(now, before + gap)
        self._last = Point(lat, lng), at
        # As the position path publishes a time: UTC with a Z.
        point_body = {"lat": lat, "lng": lng, "at": at.isoformat().replace("+00:00", "Z")}
        self._api.call("POST", f"/api/couriers/{self._courier['id']}/location", bearer(self._courier["token"]),
                       {"positions": [point_body]}, 202)
        return point_body


def shown_eta(page: Page) -> datetime:
    """The arrival the order page shows (its machine-readable time)."""
    expect(page.locator("#order-eta")).to_be_visible()
    return datetime.fromisoformat(page.locator("#order-eta-time").get_attribute("datetime") or "")


def live_eta(api: Api, order_id: str) -> datetime:
    """The arrival the query API gives for the order: the position path's latest estimate."""
    order = api.call("GET", f"/api/orders/{order_id}", api.as_("customer", "demo-customer-1"), None, 200)
    return datetime.fromisoformat(order["shipment"]["eta"])


def projected(page: Page, svg_id: str, lat: float, lng: float) -> tuple[float, float]:
    """Where the server would draw the point on that map."""
    data = page.locator(f"#{svg_id}").evaluate(
        "svg => [svg.dataset.centreLat, svg.dataset.centreLng, svg.dataset.radiusKm]")
    point = MapFrame(float(data[0]), float(data[1]), float(data[2])).project(lat, lng)
    return point.x, point.y


def moved_to(page: Page, path: PositionPath, selector: str, lat: float, lng: float) -> dict[str, Any]:
    """Report until the element shows this report (a live frame is not replayed: the page's socket may still be
    subscribing when the first one goes out), and return the report it shows."""
    def shown() -> dict[str, Any] | None:
        report = path.report(lat, lng)
        try:
            page.wait_for_function("([selector, at]) => { const element = document.querySelector(selector);"
                                   " return element && element.dataset.at === at; }",
                                   arg=[selector, report["at"]], timeout=1000)
        except PlaywrightTimeout:  # not yet: report again
            return None
        return report

    found: dict[str, Any] = eventually(shown, timeout=30, interval=0.0, what=f"{selector} at the reported position")
    return found


def test_the_order_page_and_the_couriers_map_move_with_position_messages(
        platform: RunningProcess, browser: Browser, rabbit: RabbitEnv) -> None:
    api = Api(platform.base_url)
    admin = api.as_("admin", "ops")
    product = api.call("POST", "/api/products", admin, {"sku": "KOPI-LIVE", "name": "Kopi Tubruk",
                                                        "price": "18000.00", "initial_stock": 5}, 201)
    courier = api.call("POST", "/api/couriers", admin, {"name": "Ani", "lat": -6.19, "lng": 106.82}, 201)
    order = api.call("POST", "/api/orders", api.as_("customer", "demo-customer-1"), {
        "items": [{"product_id": product["id"], "quantity": 1}], "payment": {"token": "tok_ok"},
        "delivery": {"address": "Jl. Jaksa 5", "lat": DELIVERY[0], "lng": DELIVERY[1]}})
    order_id = order["order_id"]
    api.pick_up(courier, order_id)
    eventually(lambda: api.order_status(order_id, "demo-customer-1") == "IN_TRANSIT", timeout=30, interval=0.2,
               what="the order in transit")

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{platform.base_url}/login")
    page.get_by_role("button", name="demo-customer-1").click()
    page.goto(f"{platform.base_url}/orders/{order_id}")
    expect(page.locator("#order-status")).to_have_text("In transit")
    expect(page.locator("#live-indicator")).to_have_text("live")
    marker = page.locator("#courier-marker")
    expect(marker).to_be_visible()
    expect(page.locator("#order-eta")).to_be_hidden()  # nobody has estimated an arrival yet
    page.evaluate("window.__stillTheSamePage = true")
    shot(page, "live-01-order-before")

    path = PositionPath(api, courier)
    first = moved_to(page, path, "#courier-marker", -6.1880, 106.8260)
    first_eta = shown_eta(page)
    assert first_eta == live_eta(api, order_id)
    x, y = projected(page, "order-map", first["lat"], first["lng"])
    assert float(marker.get_attribute("cx") or "nan") == pytest.approx(x, abs=0.02)
    assert float(marker.get_attribute("cy") or "nan") == pytest.approx(y, abs=0.02)
    shot(page, "live-02-order-moved")

    # On, nearer the customer: the marker moves again and the ETA moves with it, the page never reloading.
    second = moved_to(page, path, "#courier-marker", -6.1862, 106.8295)
    later_eta = shown_eta(page)
    assert later_eta == live_eta(api, order_id)
    assert later_eta != first_eta
    x2, _ = projected(page, "order-map", second["lat"], second["lng"])
    assert float(marker.get_attribute("cx") or "nan") == pytest.approx(x2, abs=0.02)
    assert x2 != pytest.approx(x, abs=1)
    expect(page.locator("#courier-seen")).to_have_text(datetime.fromisoformat(second["at"]).strftime("%H:%M:%S"))
    assert page.evaluate("window.__stillTheSamePage") is True
    shot(page, "live-03-order-eta-changed")

    # Another courier's position, carrying no order of ours, never reaches the customer's page.
    other = api.call("POST", "/api/couriers", admin, {"name": "Budi", "lat": -6.2, "lng": 106.81}, 201)
    PositionPath(api, other).report(-6.2001, 106.8101)
    sentinel = moved_to(page, path, "#courier-marker", -6.1861, 106.8296)
    assert marker.get_attribute("data-at") == sentinel["at"]

    # The operators' map follows the fleet socket.
    operator = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    operator.set_default_timeout(WAIT_MS)
    operator.goto(f"{platform.base_url}/login")
    operator.get_by_role("button", name="Operator (ops)").click()
    operator.goto(f"{platform.base_url}/ops/couriers")
    pin = f'#couriers-map g.map-pin[data-courier-id="{courier["id"]}"]'
    expect(operator.locator(pin)).to_have_class("map-pin pin-busy")
    expect(operator.locator("#live-indicator")).to_have_text("live")
    fleet = moved_to(operator, path, pin, -6.1860, 106.8297)
    fx, fy = projected(operator, "couriers-map", fleet["lat"], fleet["lng"])
    circle = operator.locator(f"{pin} circle")
    assert float(circle.get_attribute("cx") or "nan") == pytest.approx(fx, abs=0.02)
    assert float(circle.get_attribute("cy") or "nan") == pytest.approx(fy, abs=0.02)
    # The map's own refresh every 2 s redraws from the read models; the newer live position goes back on.
    with refreshes(operator, "couriers-live"):
        pass
    # The same moment, whichever way it is written (the frame's `Z`, the page's `+00:00`).
    eventually(lambda: datetime.fromisoformat(operator.locator(pin).get_attribute("data-at") or "1970-01-01T00:00Z")
               == datetime.fromisoformat(fleet["at"]), timeout=30, what="the live position back on the pin")
    assert float(operator.locator(f"{pin} circle").get_attribute("cx") or "nan") == pytest.approx(fx, abs=0.02)
    shot(operator, "live-04-couriers-map")
