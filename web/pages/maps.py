"""Maps drawn as inline SVG: lat/lng projected onto a fixed canvas, with no map tiles from anywhere.

A frame is centred on what the map is about (the delivery point, or the couriers' middle) and its radius is
rounded up to a step of a fixed ladder. So a courier that moves a little moves on the map too, instead of the
whole map being re-fitted around it, and the view only zooms out when something leaves the frame.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

WIDTH: Final = 640
HEIGHT: Final = 420
PADDING: Final = 24
KM_PER_DEGREE_LAT: Final = 111.32
RADIUS_STEPS_KM: Final = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 35.0, 60.0, 100.0, 250.0, 1000.0, 5000.0)
SCALE_BAR_KM: Final = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0)
JAKARTA: Final = (-6.2000, 106.8166)


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
    def fitting(cls, points: list[tuple[float, float]], minimum_km: float = 2.0) -> "MapFrame":
        """A frame around the middle of some points (the operators' courier map); Jakarta when there are none."""
        if not points:
            return cls.around(JAKARTA, [], minimum_km)
        lats = [lat for lat, _ in points]
        lngs = [lng for _, lng in points]
        centre = ((min(lats) + max(lats)) / 2, (min(lngs) + max(lngs)) / 2)
        # Rounded, so the centre does not drift with every small move of one courier.
        step = 0.01
        centre = (round(centre[0] / step) * step, round(centre[1] / step) * step)
        return cls.around(centre, points, minimum_km)

    @property
    def _pixels_per_km(self) -> float:
        usable = min(self.width, self.height) / 2 - PADDING
        return usable / self.radius_km

    def project(self, lat: float, lng: float) -> Point:
        """Equirectangular around the centre: at city scale the distortion is far below a pixel."""
        dx_km = (lng - self.centre_lng) * KM_PER_DEGREE_LAT * math.cos(math.radians(self.centre_lat))
        dy_km = (lat - self.centre_lat) * KM_PER_DEGREE_LAT
        scale = self._pixels_per_km
        return Point(round(self.width / 2 + dx_km * scale, 2), round(self.height / 2 - dy_km * scale, 2))

    def grid(self) -> list[GridLine]:
        """Faint lines every scale-bar step, so distances can be judged by eye."""
        step_km = self.scale_bar().length / self._pixels_per_km
        spacing = step_km * self._pixels_per_km
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
        target = self.width / 5 / self._pixels_per_km
        km = next((step for step in reversed(SCALE_BAR_KM) if step <= target), SCALE_BAR_KM[0])
        label = f"{km * 1000:.0f} m" if km < 1 else f"{km:g} km"
        return ScaleBar(PADDING, self.height - PADDING / 2 - 6, round(km * self._pixels_per_km, 2), label)

    def polyline(self, points: Iterable[tuple[float, float]]) -> str:
        return " ".join(f"{p.x},{p.y}" for p in (self.project(lat, lng) for lat, lng in points))
