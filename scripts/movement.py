"""The courier simulation's movement math: points, distances, steps towards a target, random starts.

Pure, so that it can be tested without a server; every simulated client (`scripts.simulate`, the chaos and
soak loads, the demo) moves by it.
"""

import math
import random
from dataclasses import dataclass
from typing import Final

EARTH_RADIUS_M: Final = 6_371_000.0
ARRIVAL_TOLERANCE_M: Final = 30.0


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float


JAKARTA: Final = Point(-6.2000, 106.8166)


def distance_m(a: Point, b: Point) -> float:
    """Great-circle distance (haversine), the measure the platform itself dispatches by."""
    lat1, lng1, lat2, lng2 = map(math.radians, (a.lat, a.lng, b.lat, b.lng))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def has_arrived(position: Point, target: Point, tolerance_m: float = ARRIVAL_TOLERANCE_M) -> bool:
    return distance_m(position, target) <= tolerance_m


def step_toward(position: Point, target: Point, max_step_m: float) -> Point:
    """Where a courier is after covering at most `max_step_m` on the way to `target`.

    Interpolating lat/lng linearly is not a great circle, but over a city's few kilometres the two differ by
    centimetres; the step is still measured on the sphere so the courier's speed is right.
    """
    if max_step_m < 0:
        raise ValueError("a step cannot be negative")
    remaining = distance_m(position, target)
    if remaining <= max_step_m:
        return target
    fraction = max_step_m / remaining
    return Point(position.lat + (target.lat - position.lat) * fraction,
                 position.lng + (target.lng - position.lng) * fraction)


def step_length_m(speed_kmh: float, tick_s: float) -> float:
    return speed_kmh * 1000.0 / 3600.0 * tick_s


def random_point_within(centre: Point, radius_km: float, rng: random.Random) -> Point:
    """A point uniformly distributed over the disc of `radius_km` around `centre`."""
    # sqrt: sampling the radius uniformly would crowd points at the centre.
    distance = radius_km * 1000.0 * math.sqrt(rng.random())
    bearing = rng.uniform(0.0, 2 * math.pi)
    dlat = distance * math.cos(bearing) / EARTH_RADIUS_M
    dlng = distance * math.sin(bearing) / (EARTH_RADIUS_M * math.cos(math.radians(centre.lat)))
    return Point(centre.lat + math.degrees(dlat), centre.lng + math.degrees(dlng))


def parse_point(text: str) -> Point:
    """`"LAT,LNG"` as given on the command line."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not LAT,LNG")
    try:
        lat, lng = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{text!r} is not LAT,LNG") from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise ValueError(f"{text!r} is not on the globe")
    return Point(lat, lng)
