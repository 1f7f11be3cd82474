"""Couriers and shipments over HTTP."""

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from litestar.testing import TestClient

from commands.courier_tracking import record_due_checkpoints
from composition.write_side import Platform
from domain.shipping import ShipmentStatus
from domain.values import DeliveryAddress
from tests.api.conftest import Headers


def register(client: TestClient[Any], admin: Headers, name: str = "Budi", lat: float = -6.2,
             lng: float = 106.8) -> dict[str, Any]:
    response = client.post("/api/couriers", json={"name": name, "lat": lat, "lng": lng}, headers=admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def checkpoint(platform: Platform) -> int:
    """What the worker's checkpointer would record now, were every courier's interval over."""
    return record_due_checkpoints(platform.tracking.store, platform.write.shipping, interval_s=0)


def test_registering_a_courier_returns_its_id_and_token(
    client: TestClient[Any], admin: Headers, platform: Platform
) -> None:
    body = register(client, admin)
    courier = platform.write.shipping.get_courier(UUID(body["id"]))
    assert courier.name == "Budi"
    moved = client.post(f"/api/couriers/{body['id']}/location", json={"lat": -6.21, "lng": 106.81},
                        headers=bearer(body["token"]))
    assert moved.status_code == 202
    assert moved.json() == {"id": body["id"], "accepted": 1, "position": None}
    assert platform.write.shipping.get_courier(UUID(body["id"])).position.lat == -6.2  # stored, not yet an event
    assert checkpoint(platform) == 1
    assert platform.write.shipping.get_courier(UUID(body["id"])).position.lat == -6.21


def test_courier_input_is_validated(client: TestClient[Any], admin: Headers) -> None:
    for bad in ({"name": "", "lat": 0, "lng": 0}, {"name": "x", "lat": 95, "lng": 0},
                {"name": "x", "lat": 0, "lng": 200}, {"name": "x", "lat": "north", "lng": 0}):
        response = client.post("/api/couriers", json=bad, headers=admin)
        assert response.status_code in (400, 422), bad
        assert response.headers["content-type"].startswith("application/problem+json")
    courier = register(client, admin)
    response = client.post(f"/api/couriers/{courier['id']}/location", json={"lat": -91, "lng": 0},
                           headers=bearer(courier["token"]))
    assert response.status_code in (400, 422)
    assert response.json()["errors"][0]["field"] == "lat"


def test_a_courier_acts_for_itself_only(
    client: TestClient[Any], admin: Headers, auth: Callable[[str, str], Headers]
) -> None:
    first = register(client, admin, "A")
    second = register(client, admin, "B")
    position = {"lat": 1.0, "lng": 1.0}
    assert client.post(f"/api/couriers/{second['id']}/location", json=position,
                       headers=bearer(first["token"])).status_code == 403
    assert client.post(f"/api/couriers/{first['id']}/location", json=position,
                       headers=auth("customer", first["id"])).status_code == 403
    assert client.post(f"/api/couriers/{first['id']}/location", json=position).status_code == 401
    assert client.post("/api/couriers", json={"name": "x", "lat": 0, "lng": 0},
                       headers=bearer(first["token"])).status_code == 403
    unknown = str(uuid4())
    assert client.post(f"/api/couriers/{unknown}/location", json=position,
                       headers=auth("courier", unknown)).status_code == 404


def test_the_assigned_courier_moves_and_delivers_its_shipment(
    client: TestClient[Any], admin: Headers, platform: Platform
) -> None:
    other = register(client, admin, "Far away", lat=-6.9, lng=107.6)
    carrier = register(client, admin, "Nearby", lat=-6.21, lng=106.81)
    shipping = platform.write.shipping
    order_id = uuid4()
    shipping.save(*shipping.ship_order(order_id, "alice", DeliveryAddress("Jl. Sudirman", -6.22, 106.82)))
    shipment = shipping.find_shipment_for(order_id)
    assert shipment is not None
    assert shipment.courier_id == UUID(carrier["id"])

    job = client.get(f"/api/couriers/{carrier['id']}/assignment", headers=bearer(carrier["token"]))
    assert job.status_code == 200
    assert job.json()["shipment_id"] == str(shipment.id)
    assert job.json()["order_id"] == str(order_id)
    assert job.json()["shipment_status"] == "ASSIGNED"
    assert job.json()["destination"] == {"address": "Jl. Sudirman", "lat": -6.22, "lng": 106.82}
    idle = client.get(f"/api/couriers/{other['id']}/assignment", headers=bearer(other["token"]))
    assert idle.json()["status"] == "AVAILABLE"
    assert idle.json()["shipment_id"] is None
    assert client.get(f"/api/couriers/{other['id']}/assignment", headers=bearer(carrier["token"])).status_code == 403

    path = f"/api/shipments/{shipment.id}/delivered"
    assert client.post(path, headers=bearer(carrier["token"])).status_code == 409  # not picked up yet
    assert client.post(f"/api/shipments/{shipment.id}/picked-up",
                       headers=bearer(carrier["token"])).status_code == 202
    moved = client.post(f"/api/couriers/{carrier['id']}/location", json={"lat": -6.215, "lng": 106.815},
                        headers=bearer(carrier["token"]))
    assert moved.status_code == 202
    assert checkpoint(platform) == 1
    assert shipping.get_shipment(shipment.id).position is not None
    assert shipping.get_shipment(shipment.id).position.lat == -6.215  # type: ignore[union-attr]

    assert client.post(path, headers=bearer(other["token"])).status_code == 404  # not its shipment: as if missing
    assert client.post(path, headers=bearer(carrier["token"])).status_code == 202
    assert shipping.get_shipment(shipment.id).status is ShipmentStatus.DELIVERED
    assert client.post(path, headers=bearer(carrier["token"])).status_code == 409
    assert client.post(f"/api/shipments/{uuid4()}/delivered", headers=admin).status_code == 404
