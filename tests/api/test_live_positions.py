"""Where a courier is now, served by the query API: the late deliveries, and an order's live position and ETA.

The late deliveries come from the shared recorded history (its `o6` is in transit with an ETA past its promise).
The live overlay reads the position path's table, `tracking.courier_positions`: those tests write its newest
row themselves, on a database of their own, as the position path would for a courier's next report.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from adapters.database import Database
from adapters.settings import Settings
from composition.read_side import open_read_side
from composition.write_side import open_platform
from projections.models.orders import DELIVERY_PROMISE_MIN
from tests.api.history import LATE_ETA, Courier, History, Story, followers
from tests.api.test_queries import assert_bad_input, assert_problem, get_ok
from tests.waiting import eventually
from web.command_api.app import create_command_api
from web.query_api.app import create_query_api

Client = TestClient[Any]

def test_operators_list_the_deliveries_that_will_miss_their_promise(history: History, history_client: Client) -> None:
    body = get_ok(history_client, "/api/ops/late-deliveries", history.admin)

    (late,) = body["items"]
    order = get_ok(history_client, f"/api/orders/{history.orders['o6']}", history.admin)
    assert late["order_id"] == history.orders["o6"]
    assert (late["customer_id"], late["courier_id"]) == ("dave", history.couriers["Ani"].id)
    assert datetime.fromisoformat(late["eta"]) == LATE_ETA
    assert datetime.fromisoformat(late["promised_by"]) == datetime.fromisoformat(order["promised_by"])
    confirmed_at = next(entry["at"] for entry in order["timeline"] if entry.get("status") == "CONFIRMED")
    assert datetime.fromisoformat(order["promised_by"]) == (datetime.fromisoformat(confirmed_at)
                                                            + timedelta(minutes=DELIVERY_PROMISE_MIN))
    assert late["late_by_s"] == pytest.approx(
        (LATE_ETA - datetime.fromisoformat(late["promised_by"])).total_seconds(), abs=1)
    assert late["position"]["lat"] == -6.2
    assert get_ok(history_client, "/api/ops/late-deliveries", history.admin, limit=1) == body


def test_late_deliveries_are_for_operators_only(history: History, history_client: Client) -> None:
    assert_problem(history_client.get("/api/ops/late-deliveries", headers=history.customer("dave")), 403)
    assert_problem(history_client.get("/api/ops/late-deliveries", headers=history.couriers["Ani"].headers), 403)
    assert_problem(history_client.get("/api/ops/late-deliveries"), 401)
    for limit in ("0", "201", "x", "1.5"):
        assert_bad_input(history_client, "/api/ops/late-deliveries", history.admin, limit=limit)


# The live overlay, on a database of its own.


class Delivery:
    """One order picked up and on its way, on a fresh database, with the query API over it."""

    def __init__(self, settings: Settings, stack: ExitStack) -> None:
        platform = stack.enter_context(open_platform(settings))
        self.database: Database = platform.database
        read = stack.enter_context(open_read_side(settings, self.database))
        self.history = History(settings=settings, database=self.database, read=read)
        commands = stack.enter_context(TestClient(app=create_command_api(platform)))
        self.queries = stack.enter_context(TestClient(app=create_query_api(read)))
        story = Story(self.history, commands, followers(platform, stack))
        story.product("TEH-1", "Teh Botol", "3.50", 5)
        self.courier: Courier = story.courier("Ani", -6.19, 106.82)
        self.order_id = story.order("o1", "alice", "TEH-1")
        story.shipment_of("o1", platform)
        story.pick_up("o1", self.courier)
        story.move(self.courier, -6.195, 106.81, platform)
        story.settle()

    def order(self) -> dict[str, Any]:
        response = self.queries.get(f"/api/orders/{self.order_id}", headers=self.history.customer("alice"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def report(self, at: datetime, order_id: str | None, eta: datetime | None) -> None:
        """What the position path writes for a courier's newest report."""
        with self.database.connect() as connection:
            connection.execute(
                "INSERT INTO tracking.courier_positions (courier_id, lat, lng, at, speed_mps, reported_at, "
                "order_id, eta) VALUES (%s, -6.2, 106.805, %s, 5.5, now(), %s, %s) ON CONFLICT (courier_id) DO "
                "UPDATE SET lat = excluded.lat, lng = excluded.lng, at = excluded.at, order_id = excluded.order_id, "
                "eta = excluded.eta",
                (UUID(self.courier.id), at, order_id, eta))


@pytest.fixture
def delivery(settings: Settings) -> Iterator[Delivery]:
    with ExitStack() as stack:
        yield Delivery(settings, stack)


def test_an_order_shows_its_couriers_live_position_and_eta_once_the_position_path_keeps_them(
        delivery: Delivery) -> None:
    checkpoint = delivery.order()["shipment"]
    assert checkpoint["position"]["lat"] == -6.195  # the route's checkpoint of the courier's report

    live_at = datetime.fromisoformat(checkpoint["position"]["at"]) + timedelta(seconds=7)
    eta = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    delivery.report(live_at, delivery.order_id, eta)

    shipment = eventually(lambda: (found := delivery.order()["shipment"])["position"]["lat"] == -6.2 and found,
                          timeout=30, what="the live position laid over the order")
    assert shipment["position"] == {"lat": -6.2, "lng": 106.805, "at": live_at.isoformat()}
    assert datetime.fromisoformat(shipment["eta"]) == eta
    assert (shipment["status"], shipment["courier_id"]) == ("IN_TRANSIT", delivery.courier.id)


def test_a_live_position_older_than_the_checkpoint_or_of_another_order_is_not_laid_over(delivery: Delivery) -> None:
    checkpoint = delivery.order()["shipment"]
    at = datetime.fromisoformat(checkpoint["position"]["at"])

    delivery.report(at - timedelta(seconds=5), delivery.order_id, datetime(2030, 1, 1, tzinfo=UTC))
    assert delivery.order()["shipment"] == checkpoint
    delivery.report(at + timedelta(seconds=5), str(UUID(int=7)), datetime(2030, 1, 1, tzinfo=UTC))
    assert delivery.order()["shipment"] == checkpoint
