"""Maps drawn as inline SVG: lat/lng projected onto a fixed canvas, with no map tiles from anywhere.

A frame is centred on what the map is about (the delivery point, or the couriers' middle) and its radius is
rounded up to a step of a fixed ladder. So a courier that moves a little moves on the map too, instead of the
whole map being re-fitted around it, and the view only zooms out when something leaves the frame. The
operators' map of many couriers is fitted to their bounding box instead, on a finer ladder.

Under the markers lies a small schematic basemap of central Jakarta (main roads, rivers, district names;
`web/static/basemap/jakarta.json`), so a point on the map is somewhere a person knows.
"""

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

WIDTH: Final = 640
HEIGHT: Final = 420
PADDING: Final = 24
KM_PER_DEGREE_LAT: Final = 111.32
RADIUS_STEPS_KM: Final = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 35.0, 60.0, 100.0, 250.0, 1000.0, 5000.0)
SCALE_BAR_KM: Final = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0)
FIT_STEPS_KM: Final = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
JAKARTA: Final = (-6.2000, 106.8166)
BASEMAP_FILE: Final = Path(__file__).resolve().parents[1] / "static" / "basemap" / "jakarta.json"
CLUSTER_PX: Final = 22.0
"""Markers closer than this on screen are drawn as one numbered bubble."""


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class GridLine:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class ScaleBar:
    x: float
    y: float
    length: float
    label: str


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance; accurate enough to size a city map."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class MapFrame:
    centre_lat: float
    centre_lng: float
    radius_km: float
    width: int = WIDTH
    height: int = HEIGHT

    @classmethod
    def around(cls, centre: tuple[float, float], points: Iterable[tuple[float, float]],
               minimum_km: float = 1.0) -> "MapFrame":
        farthest = max((distance_km(centre, point) for point in points), default=0.0)
        wanted = max(minimum_km, farthest * 1.15)
        radius = next((step for step in RADIUS_STEPS_KM if step >= wanted), RADIUS_STEPS_KM[-1])
        return cls(centre[0], centre[1], radius)

    @classmethod
    def fitting(cls, points: list[tuple[float, float]], minimum_km: float = 0.75) -> "MapFrame":
        """A frame fitted to the bounding box of some points (the operators' courier map), using the canvas's
        whole width; Jakarta when there are none."""
        if not points:
            return cls.around(JAKARTA, [], 2.0)
        lats = [lat for lat, _ in points]
        lngs = [lng for _, lng in points]
        # Rounded, so the centre does not drift with every small move of one courier.
        step = 0.002
        centre = (round((min(lats) + max(lats)) / 2 / step) * step, round((min(lngs) + max(lngs)) / 2 / step) * step)
        half_y_km = max(abs(lat - centre[0]) for lat in lats) * KM_PER_DEGREE_LAT
        half_x_km = max(abs(lng - centre[1]) for lng in lngs) * KM_PER_DEGREE_LAT * math.cos(math.radians(centre[0]))
        # The radius is measured on the canvas's short side; the long side holds proportionally more.
        short, long_ = min(WIDTH, HEIGHT) / 2 - PADDING, max(WIDTH, HEIGHT) / 2 - PADDING
        wide = WIDTH >= HEIGHT
        needed = max(half_y_km if wide else half_y_km * short / long_,
                     half_x_km * short / long_ if wide else half_x_km) * 1.12
        wanted = max(minimum_km, needed)
        radius = next((step for step in FIT_STEPS_KM if step >= wanted), None)
        if radius is None:
            return cls.around(centre, points, minimum_km)
        return cls(centre[0], centre[1], radius)

    @property
    def pixels_per_km(self) -> float:
        """The scale: the browser projects live positions with it (web/static/js/app.js), exactly as `project`."""
        usable = min(self.width, self.height) / 2 - PADDING
        return usable / self.radius_km

    def project(self, lat: float, lng: float) -> Point:
        """Equirectangular around the centre: at city scale the distortion is far below a pixel."""
        dx_km = (lng - self.centre_lng) * KM_PER_DEGREE_LAT * math.cos(math.radians(self.centre_lat))
        dy_km = (lat - self.centre_lat) * KM_PER_DEGREE_LAT
        scale = self.pixels_per_km
        return Point(round(self.width / 2 + dx_km * scale, 2), round(self.height / 2 - dy_km * scale, 2))

    def grid(self) -> list[GridLine]:
        """Faint lines every scale-bar step, so distances can be judged by eye."""
        step_km = self.scale_bar().length / self.pixels_per_km
        spacing = step_km * self.pixels_per_km
        lines: list[GridLine] = []
        count = int(max(self.width, self.height) / spacing / 2) + 1
        for i in range(-count, count + 1):
            x = self.width / 2 + i * spacing
            y = self.height / 2 + i * spacing
            if 0 <= x <= self.width:
                lines.append(GridLine(round(x, 2), 0, round(x, 2), self.height))
            if 0 <= y <= self.height:
                lines.append(GridLine(0, round(y, 2), self.width, round(y, 2)))
        return lines

    def scale_bar(self) -> ScaleBar:
        target = self.width / 5 / self.pixels_per_km
        km = next((step for step in reversed(SCALE_BAR_KM) if step <= target), SCALE_BAR_KM[0])
        label = f"{km * 1000:.0f} m" if km < 1 else f"{km:g} km"
        return ScaleBar(PADDING, self.height - PADDING / 2 - 6, round(km * self.pixels_per_km, 2), label)

    def polyline(self, points: Iterable[tuple[float, float]]) -> str:
        return " ".join(f"{p.x},{p.y}" for p in (self.project(lat, lng) for lat, lng in points))


@dataclass(frozen=True)
class Road:
    name: str
    rank: int
    """1 for the arteries, 3 for the smaller streets worth a line."""
    points: str


@dataclass(frozen=True)
class Place:
    name: str
    at: Point


@dataclass(frozen=True)
class Basemap:
    roads: list[Road] = field(default_factory=list)
    rivers: list[Road] = field(default_factory=list)
    districts: list[Place] = field(default_factory=list)
    landmarks: list[Place] = field(default_factory=list)


@cache
def _basemap_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BASEMAP_FILE.read_text())
    return data


def _inside(frame: MapFrame, point: Point, margin: float = 0.0) -> bool:
    return -margin <= point.x <= frame.width + margin and -margin <= point.y <= frame.height + margin


def basemap(frame: MapFrame) -> Basemap:
    """The basemap's features that fall in the frame, projected onto it (the SVG clips what overhangs)."""
    data = _basemap_data()

    def lines(kind: str) -> list[Road]:
        found = []
        for feature in data.get(kind, []):
            projected = [frame.project(lat, lng) for lat, lng in feature["points"]]
            if any(_inside(frame, point, margin=frame.width) for point in projected):
                found.append(Road(feature["name"], int(feature.get("rank", 2)),
                                  " ".join(f"{p.x},{p.y}" for p in projected)))
        return found

    def places(kind: str, margin: float) -> list[Place]:
        found = []
        for feature in data.get(kind, []):
            point = frame.project(*feature["at"])
            if _inside(frame, point, margin=-margin):
                found.append(Place(feature["name"], point))
        return found

    # Beyond a city-sized frame the schematic says nothing, and district names would pile up.
    if frame.radius_km > 20:
        return Basemap()
    return Basemap(roads=sorted(lines("roads"), key=lambda road: -road.rank), rivers=lines("rivers"),
                   districts=places("districts", 30) if frame.radius_km >= 1.0 else [],
                   landmarks=places("landmarks", 12))


@dataclass(frozen=True)
class Cluster:
    """Markers too close to tell apart on screen: one bubble with their count, their names on hover."""

    x: float
    y: float
    members: list[Any]


def clusters(points: Sequence[tuple[Point, Any]], within_px: float = CLUSTER_PX) -> list[Cluster]:
    """Greedy grouping of projected points: each joins the first group whose first point is near enough."""
    groups: list[tuple[Point, list[tuple[Point, Any]]]] = []
    for point, item in points:
        for anchor, members in groups:
            if math.hypot(anchor.x - point.x, anchor.y - point.y) < within_px:
                members.append((point, item))
                break
        else:
            groups.append((point, [(point, item)]))
    result = []
    for _, members in groups:
        x = sum(point.x for point, _ in members) / len(members)
        y = sum(point.y for point, _ in members) / len(members)
        result.append(Cluster(round(x, 2), round(y, 2), [item for _, item in members]))
    return result
