"""The courier simulation's movement math, and one courier app's decisions against a scripted API."""

import json
import random
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scripts.movement import (
    ARRIVAL_TOLERANCE_M,
    JAKARTA,
    Point,
    distance_m,
    has_arrived,
    parse_point,
    random_point_within,
    step_length_m,
    step_toward,
)
from scripts.simulate import CourierDriver, RegisteredCourier, RequestFailed

MONAS = Point(-6.1754, 106.8272)


def test_distance_of_one_degree_of_latitude() -> None:
    assert distance_m(Point(0.0, 0.0), Point(1.0, 0.0)) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(JAKARTA, JAKARTA) == 0.0
    assert distance_m(JAKARTA, MONAS) == pytest.approx(distance_m(MONAS, JAKARTA))


def test_a_step_covers_exactly_the_step_length_towards_the_target() -> None:
    total = distance_m(JAKARTA, MONAS)
    moved = step_toward(JAKARTA, MONAS, 500.0)
    assert distance_m(JAKARTA, moved) == pytest.approx(500.0, rel=1e-3)
    assert distance_m(moved, MONAS) == pytest.approx(total - 500.0, rel=1e-3)


def test_a_step_longer_than_the_way_left_lands_on_the_target() -> None:
    assert step_toward(JAKARTA, MONAS, 1e6) == MONAS
    assert step_toward(MONAS, MONAS, 10.0) == MONAS


def test_a_step_of_nothing_stays_put_and_a_negative_one_is_refused() -> None:
    assert step_toward(JAKARTA, MONAS, 0.0) == JAKARTA
    with pytest.raises(ValueError, match="negative"):
        step_toward(JAKARTA, MONAS, -1.0)


def test_repeated_steps_arrive_in_the_expected_number_of_ticks() -> None:
    step = step_length_m(speed_kmh=36.0, tick_s=1.0)  # 10 m/s
    assert step == pytest.approx(10.0)
    position, ticks = JAKARTA, 0
    while not has_arrived(position, MONAS):
        position = step_toward(position, MONAS, step)
        ticks += 1
    expected = (distance_m(JAKARTA, MONAS) - ARRIVAL_TOLERANCE_M) / step
    assert expected <= ticks <= expected + 1


def test_arrival_is_within_the_tolerance() -> None:
    near = step_toward(MONAS, JAKARTA, ARRIVAL_TOLERANCE_M - 1)
    far = step_toward(MONAS, JAKARTA, ARRIVAL_TOLERANCE_M + 1)
    assert has_arrived(near, MONAS)
    assert not has_arrived(far, MONAS)
    assert has_arrived(far, MONAS, tolerance_m=100.0)


def test_random_points_stay_within_the_radius_and_spread_over_it() -> None:
    rng = random.Random(7)
    distances = [distance_m(JAKARTA, random_point_within(JAKARTA, 5.0, rng)) for _ in range(2000)]
    assert max(distances) <= 5000.0 + 1.0
    # Uniform over the disc: half the points lie beyond 1/sqrt(2) of the radius.
    beyond = sum(1 for d in distances if d > 5000.0 / 2**0.5) / len(distances)
    assert 0.45 < beyond < 0.55


def test_parse_point() -> None:
    assert parse_point("-6.2000,106.8166") == Point(-6.2, 106.8166)
    assert parse_point(" -6.2 , 106.8 ") == Point(-6.2, 106.8)
    for bad in ("-6.2", "a,b", "1,2,3", "91,0", "0,181", ""):
        with pytest.raises(ValueError, match=r"LAT,LNG|globe"):
            parse_point(bad)


# One courier app, against a scripted API.

COURIER = RegisteredCourier(id="c0ffee00-0000-0000-0000-000000000001", name="Test courier", token="t0k",
                            start=JAKARTA)
SHIPMENT = "5417e000-0000-0000-0000-000000000002"
PROBLEMS = "https://logistics.example/problems/"


class ScriptedApi:
    """Answers like the command API for one courier assigned one shipment; records what the courier did."""

    def __init__(self, destination: Point, picked_up: bool = True) -> None:
        self.destination = destination
        self.carrying: str | None = SHIPMENT
        self.picked_up_at: Point | None = JAKARTA if picked_up else None
        self.delivered = False
        self.conflicts = 0
        self.positions: list[Point] = []
        self.failures: list[Callable[[httpx.Request], httpx.Response]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {COURIER.token}"
        if self.failures:
            return self.failures.pop(0)(request)
        path = request.url.path
        if path.endswith("/assignment"):
            body: dict[str, Any] = {"courier_id": COURIER.id, "status": "BUSY" if self.carrying else "AVAILABLE",
                                    "lat": 0.0, "lng": 0.0}
            if self.carrying:
                status = "DELIVERED" if self.delivered else "IN_TRANSIT" if self.picked_up_at else "ASSIGNED"
                body.update(shipment_id=self.carrying, shipment_status=status, order_id="o", destination={
                    "address": "Jl. Jaksa 5", "lat": self.destination.lat, "lng": self.destination.lng})
            return httpx.Response(200, json=body)
        if path == f"/api/shipments/{SHIPMENT}/picked-up":
            if self.picked_up_at is not None:
                return httpx.Response(409, json={"type": f"{PROBLEMS}invalid-state",
                                                 "detail": "a shipment that is IN_TRANSIT cannot be picked up"})
            sent = json.loads(request.content)
            self.picked_up_at = Point(sent["lat"], sent["lng"])
            return httpx.Response(202, json={"id": SHIPMENT, "position": 1})
        if path.endswith("/location"):
            sent = json.loads(request.content)
            self.positions.append(Point(sent["lat"], sent["lng"]))
            return httpx.Response(202, json={"id": COURIER.id, "position": len(self.positions)})
        if path == f"/api/shipments/{SHIPMENT}/delivered":
            if self.conflicts:
                self.conflicts -= 1
                return httpx.Response(409, json={"type": f"{PROBLEMS}concurrency-conflict",
                                                 "detail": "kept conflicting"})
            if self.delivered or self.picked_up_at is None:
                status = "DELIVERED" if self.delivered else "ASSIGNED"
                return httpx.Response(409, json={"type": f"{PROBLEMS}invalid-state",
                                                 "detail": f"a shipment that is {status} cannot be delivered"})
            self.delivered = True
            return httpx.Response(202, json={"id": SHIPMENT, "position": 1})
        return httpx.Response(404, json={"detail": "no such route"})


class Clock:
    """The time a driver reads, moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def driver_against(api: ScriptedApi, speed_kmh: float = 3600.0, pickup_s: float = 0.0,
                   clock: Clock | None = None) -> CourierDriver:
    http = httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(api.handle))
    return CourierDriver(http, COURIER, speed_kmh=speed_kmh, tick_s=1.0, pickup_s=pickup_s, clock=clock or Clock())


def test_an_assigned_courier_waits_the_pick_up_time_where_it_is_then_picks_up_and_drives() -> None:
    destination = step_toward(JAKARTA, Point(-6.1, 106.9), 1500.0)
    api = ScriptedApi(destination, picked_up=False)
    clock = Clock()
    driver = driver_against(api, pickup_s=3.0, clock=clock)  # 1 km per tick
    for _ in range(3):
        driver.tick()
        clock.now += 1.0
    assert api.picked_up_at is None
    assert api.positions == [JAKARTA] * 3  # reporting where it waits
    driver.tick()  # 3 s after it saw the assignment
    assert api.picked_up_at == JAKARTA
    assert driver.stats.pickups.value == 1
    for _ in range(4):
        driver.tick()
    assert api.positions[3:] == [step_toward(JAKARTA, destination, 1000.0), destination]
    assert api.delivered
    assert driver.stats.deliveries.value == 1


def test_a_pick_up_whose_answer_was_lost_is_not_repeated_and_the_courier_drives_on() -> None:
    api = ScriptedApi(MONAS, picked_up=True)
    driver = driver_against(api)
    driver.assigned_at[SHIPMENT] = 0.0
    refused = httpx.Response(409, json={"type": f"{PROBLEMS}invalid-state", "detail": "is IN_TRANSIT"})
    api.failures = [lambda _: httpx.Response(200, json={
        "courier_id": COURIER.id, "status": "BUSY", "lat": 0.0, "lng": 0.0, "shipment_id": SHIPMENT,
        "shipment_status": "ASSIGNED", "order_id": "o",
        "destination": {"address": "x", "lat": MONAS.lat, "lng": MONAS.lng}}), lambda _: refused]
    driver.tick()  # an assignment read before the pick-up landed, and the pick-up it refuses
    assert driver.stats.errors.value == 0
    assert SHIPMENT not in driver.assigned_at
    driver.tick()
    assert len(api.positions) == 1  # on its way


def test_the_courier_drives_to_the_destination_then_delivers_once() -> None:
    destination = step_toward(JAKARTA, Point(-6.1, 106.9), 3500.0)
    api = ScriptedApi(destination)
    driver = driver_against(api)  # 1 km per tick
    for _ in range(10):
        driver.tick()
    assert len(api.positions) == 4
    assert api.positions[-1] == destination
    assert api.delivered
    assert driver.stats.deliveries.value == 1
    assert driver.stats.errors.value == 0


def test_a_delivery_whose_answer_was_lost_is_not_repeated_for_ever() -> None:
    api = ScriptedApi(JAKARTA)
    api.delivered = True  # the first attempt got through; the courier never heard back
    driver = driver_against(api)
    driver.tick()
    driver.tick()
    assert SHIPMENT in driver.handed_over
    assert driver.stats.errors.value == 0


def test_a_delivery_that_kept_conflicting_is_tried_again() -> None:
    api = ScriptedApi(JAKARTA)
    api.conflicts = 1
    driver = driver_against(api)
    with pytest.raises(RequestFailed, match="delivered answered 409"):
        driver.tick()
    assert SHIPMENT not in driver.handed_over
    driver.tick()
    assert api.delivered
    assert driver.stats.deliveries.value == 1


def test_an_idle_courier_stays_put() -> None:
    api = ScriptedApi(MONAS)
    api.carrying = None
    driver = driver_against(api)
    driver.tick()
    assert api.positions == []
    assert driver.position == JAKARTA


def test_transient_failures_are_counted_and_the_courier_carries_on() -> None:
    api = ScriptedApi(MONAS)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api.failures = [unreachable, lambda _: httpx.Response(503, text="busy"),
                    lambda _: httpx.Response(200, content=b"not json")]
    driver = driver_against(api)
    stop = threading.Event()
    ticks = 0

    original_tick = driver.tick

    def counted_tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 5:
            stop.set()
        original_tick()

    driver.tick = counted_tick  # type: ignore[method-assign]
    driver.run(stop, tick_s=0.0)
    assert driver.stats.errors.value == 3
    assert len(api.positions) == 2
