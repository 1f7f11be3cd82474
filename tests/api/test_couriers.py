"""Couriers and shipments over HTTP."""

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from litestar.testing import TestClient

from commands.courier_tracking import record_due_checkpoints
from composition.write_side import Platform
from domain.shipping import Shipment, ShipmentStatus
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


def test_the_assigned_courier_picks_up_moves_and_delivers_its_shipment(
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
    assert job.json()["on_duty"] is True
    assert job.json()["destination"] == {"address": "Jl. Sudirman", "lat": -6.22, "lng": 106.82}
    idle = client.get(f"/api/couriers/{other['id']}/assignment", headers=bearer(other["token"]))
    assert idle.json()["status"] == "AVAILABLE"
    assert idle.json()["shipment_id"] is None
    assert client.get(f"/api/couriers/{other['id']}/assignment", headers=bearer(carrier["token"])).status_code == 403

    path = f"/api/shipments/{shipment.id}/delivered"
    assert client.post(path, headers=bearer(carrier["token"])).status_code == 409  # not picked up yet
    picked_up = f"/api/shipments/{shipment.id}/picked-up"
    assert client.post(picked_up, headers=bearer(other["token"])).status_code == 404
    assert client.post(picked_up, json={"lat": -6.211, "lng": 106.811},
                       headers=bearer(carrier["token"])).status_code == 202
    assert shipping.get_shipment(shipment.id).status is ShipmentStatus.IN_TRANSIT
    assert client.post(picked_up, headers=bearer(carrier["token"])).status_code == 409
    job = client.get(f"/api/couriers/{carrier['id']}/assignment", headers=bearer(carrier["token"]))
    assert job.json()["shipment_status"] == "IN_TRANSIT"
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


def shipped_to_the_nearest(platform: Platform, lat: float = -6.22, lng: float = 106.82) -> UUID:
    """A confirmed order's shipment, as the saga ships it: the nearest free courier's, or waiting."""
    shipping = platform.write.shipping
    order_id = uuid4()
    shipping.save(*shipping.ship_order(order_id, "alice", DeliveryAddress("Jl. Sudirman", lat, lng)))
    return Shipment.create_id(order_id)


def test_a_courier_carrying_a_picked_up_shipment_cannot_end_its_shift(
    client: TestClient[Any], admin: Headers, platform: Platform
) -> None:
    carrier = register(client, admin, "Carrier", lat=-6.21, lng=106.81)
    shipment_id = shipped_to_the_nearest(platform)
    shift = f"/api/couriers/{carrier['id']}/shift"
    picked = client.post(f"/api/shipments/{shipment_id}/picked-up", headers=bearer(carrier["token"]))
    assert picked.status_code == 202, picked.text

    refused = client.post(shift, json={"on_duty": False}, headers=bearer(carrier["token"]))

    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert str(shipment_id) in refused.json()["detail"]
    assert platform.write.shipping.get_courier(UUID(carrier["id"])).on_duty
    assert client.post(shift, json={"on_duty": False}, headers=admin).status_code == 409

    assert client.post(f"/api/shipments/{shipment_id}/delivered", headers=bearer(carrier["token"])).status_code == 202
    platform.write.shipping.save(*platform.write.shipping.finish_shipment(
        platform.write.shipping.get_shipment(shipment_id).order_id))  # the customer's receipt frees the courier
    ended = client.post(shift, json={"on_duty": False}, headers=bearer(carrier["token"]))
    assert ended.status_code == 202, ended.text
    assert ended.json()["on_duty"] is False
    job = client.get(f"/api/couriers/{carrier['id']}/assignment", headers=bearer(carrier["token"]))
    assert job.json()["on_duty"] is False


def test_a_shift_is_the_courier_s_own_or_an_operator_s_to_change_and_its_body_is_validated(
    client: TestClient[Any], admin: Headers, auth: Callable[[str, str], Headers], platform: Platform
) -> None:
    first = register(client, admin, "A")
    second = register(client, admin, "B")
    shift = f"/api/couriers/{first['id']}/shift"
    assert client.post(shift, json={"on_duty": False}, headers=bearer(second["token"])).status_code == 403
    assert client.post(shift, json={"on_duty": False}, headers=auth("customer", "alice")).status_code == 403
    assert client.post(shift, json={"on_duty": False}).status_code == 401
    for bad in ({}, {"on_duty": "no"}, {"on_duty": None}):
        response = client.post(shift, json=bad, headers=bearer(first["token"]))
        assert response.status_code in (400, 422), bad
        assert response.headers["content-type"].startswith("application/problem+json")
    assert platform.write.shipping.get_courier(UUID(first["id"])).on_duty

    ended = client.post(shift, json={"on_duty": False}, headers=admin)
    again = client.post(shift, json={"on_duty": False}, headers=bearer(first["token"]))

    assert (ended.status_code, again.status_code) == (202, 202)  # repeating a shift change changes nothing
    assert not platform.write.shipping.get_courier(UUID(first["id"])).on_duty
    unknown = str(uuid4())
    assert client.post(f"/api/couriers/{unknown}/shift", json={"on_duty": True}, headers=admin).status_code == 404
