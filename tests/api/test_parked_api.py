"""Parked events over both APIs, for admins: listed and shown by the query API, retried and skipped by the command
API, each answer as documented (202, 404 for an unknown id, 409 for one that is not parked, 422 without a reason).
"""

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from composition.read_side import open_read_side
from composition.write_side import Platform
from web.query_api.app import create_query_api

Headers = dict[str, str]


@pytest.fixture
def queries(platform: Platform) -> Iterator[TestClient[Any]]:
    with open_read_side(platform.settings, platform.database, platform.broker) as read, \
            TestClient(app=create_query_api(read)) as test_client:
        yield test_client


def park(platform: Platform, position: int, status: str = "parked") -> int:
    """A row as the orders' read-model follower writes when it parks an event (or holds one behind it)."""
    with platform.database.connect() as connection:
        found = connection.execute(
            "INSERT INTO read.parked_events (follower, upstream, partition, notification_id, originator_id, "
            "originator_version, topic, status, error, traceback, attempts) VALUES ('readmodels-from-orders', "
            "'Orders', 0, %s, gen_random_uuid(), 1, 'domain.order:Order.Placed', %s, 'ValueError: no', "
            "'Traceback (most recent call last): ...', 3) RETURNING id", (position, status)).fetchone()
    assert found is not None
    return int(found[0])


def test_an_admin_lists_shows_retries_and_skips_parked_events(
        platform: Platform, client: TestClient[Any], queries: TestClient[Any], admin: Headers) -> None:
    first, second = park(platform, 10), park(platform, 11)

    listed = queries.get("/api/ops/parked", headers=admin)
    assert listed.status_code == 200, listed.text
    assert [(item["id"], item["status"], item["event_type"]) for item in listed.json()["items"]] == [
        (first, "parked", "Order.Placed"), (second, "parked", "Order.Placed")]
    shown = queries.get(f"/api/ops/parked/{first}", headers=admin).json()
    assert (shown["error"], shown["attempts"], shown["position"]) == ("ValueError: no", 3, 10)
    assert shown["traceback"].startswith("Traceback")

    retried = client.post(f"/api/ops/parked/{first}/retry", headers=admin)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "retry"
    again = client.post(f"/api/ops/parked/{first}/retry", headers=admin)
    assert again.status_code == 409, again.text

    assert client.post(f"/api/ops/parked/{second}/skip", headers=admin, json={}).status_code == 422
    skipped = client.post(f"/api/ops/parked/{second}/skip", headers=admin, json={"reason": "written by hand"})
    assert skipped.status_code == 202, skipped.text
    only_skipped = queries.get("/api/ops/parked", headers=admin, params={"status": "skipped"}).json()["items"]
    assert [(item["id"], item["resolved_by"], item["reason"]) for item in only_skipped] == [
        (second, "admin:operator-1", "written by hand")]
    assert [item["id"] for item in queries.get("/api/ops/parked", headers=admin).json()["items"]] == [first]

    with platform.database.connect() as connection:
        actions = connection.execute("SELECT parked_id, action, actor, reason FROM read.parked_actions "
                                     "ORDER BY id").fetchall()
    assert actions == [(first, "retry", "admin:operator-1", None),
                       (second, "skip", "admin:operator-1", "written by hand")]


def test_unknown_ids_and_statuses_are_clear_refusals(
        client: TestClient[Any], queries: TestClient[Any], admin: Headers) -> None:
    assert queries.get("/api/ops/parked/999", headers=admin).status_code == 404
    assert client.post("/api/ops/parked/999/retry", headers=admin).status_code == 404
    assert client.post("/api/ops/parked/999/skip", headers=admin, json={"reason": "x"}).status_code == 404
    refused = queries.get("/api/ops/parked", headers=admin, params={"status": "lost"})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
