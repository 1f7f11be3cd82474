"""A courier's position reports over HTTP: the two forms of the body, and the points refused, by name."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from composition.write_side import Platform
from tests.api.conftest import Headers
from tests.api.test_couriers import bearer, register


def latest_of(platform: Platform, courier_id: str) -> tuple[float, float, datetime] | None:
    with platform.database.connect() as connection:
        row = connection.execute("SELECT lat, lng, at FROM tracking.courier_positions WHERE courier_id = %s",
                                 (UUID(courier_id),)).fetchone()
    return (row[0], row[1], row[2]) if row else None


def stamp(seconds_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def points(*ages: float, lat: float = -6.2, step: float = 0.0001) -> list[dict[str, Any]]:
    """Points north from `lat`, one step per second of their time."""
    return [{"lat": lat - step * age, "lng": 106.8, "at": stamp(age)} for age in ages]


@pytest.fixture
def courier(client: TestClient[Any], admin: Headers) -> dict[str, Any]:
    return register(client, admin)


def report(client: TestClient[Any], courier: dict[str, Any], body: Any) -> Any:
    return client.post(f"/api/couriers/{courier['id']}/location", json=body, headers=bearer(courier["token"]))


def test_where_the_courier_is_now(client: TestClient[Any], courier: dict[str, Any], platform: Platform) -> None:
    before = datetime.now(UTC)

    response = report(client, courier, {"lat": -6.21, "lng": 106.81})

    assert response.status_code == 202
    assert response.json() == {"id": courier["id"], "accepted": 1, "position": None}
    stored = latest_of(platform, courier["id"])
    assert stored is not None
    assert stored[:2] == (-6.21, 106.81)
    assert before <= stored[2] <= datetime.now(UTC)


def test_a_batch_of_points_sent_late_with_a_duplicate(
    client: TestClient[Any], courier: dict[str, Any], platform: Platform
) -> None:
    batch = points(30, 10, 20)
    batch.append(dict(batch[1]))

    response = report(client, courier, {"positions": batch})

    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    stored = latest_of(platform, courier["id"])
    assert stored is not None
    assert stored[0] == pytest.approx(-6.2 - 0.0001 * 10)


@pytest.mark.parametrize(("body", "field"), [
    ({"lat": -6.2, "lng": 106.8, "positions": points(1)}, "positions"),
    ({}, "lat"),
    ({"lat": -6.2}, "lng"),
    ({"positions": []}, "positions"),
    ({"positions": points(*range(601))}, "positions"),
    ({"positions": [{"lat": -6.2, "lng": 106.8, "at": "2024-05-01T08:30:00"}]}, "positions[0].at"),
    ({"positions": [{"lat": -6.2, "lng": 106.8, "at": "yesterday"}]}, "positions[0].at"),
    ({"positions": [*points(3, 2), {"lat": -91, "lng": 106.8, "at": stamp(1)}]}, "positions[2].lat"),
    ({"positions": [*points(4, 3, 2), {"lat": -6.2, "lng": 106.8, "at": stamp(-600)}]}, "positions[3].at"),
    ({"positions": [*points(3), {"lat": -6.6, "lng": 106.8, "at": stamp(2)}, *points(1)]}, "positions[1]"),
])
def test_a_point_refused_is_named_and_nothing_is_stored(
    client: TestClient[Any], courier: dict[str, Any], platform: Platform, body: dict[str, Any], field: str
) -> None:
    response = report(client, courier, body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field
    assert latest_of(platform, courier["id"]) is None


def test_a_jump_from_the_stored_position_is_refused(
    client: TestClient[Any], courier: dict[str, Any], platform: Platform
) -> None:
    assert report(client, courier, {"lat": -6.2, "lng": 106.8}).status_code == 202

    response = report(client, courier, {"lat": -6.6, "lng": 106.8})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "positions[0]"
    stored = latest_of(platform, courier["id"])
    assert stored is not None
    assert stored[0] == -6.2
