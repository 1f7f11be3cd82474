"""Where couriers are: which reported positions are believable, the speed they imply, and the arrival it predicts.

Pure: the position path (`commands.courier_tracking`) reads what it stored before, asks `accept` which of a
report's points to keep, stores them, and asks `eta` when the courier holds a shipment.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from domain.errors import InvalidValue
from domain.values import GeoPoint

FUTURE_TOLERANCE_S: Final = 30
"""A phone's clock may run a little ahead; a point further in the future than this is a broken clock."""
MAX_SPEED_KMH: Final = 250
"""No courier moves faster: a point implying more is a GPS glitch or a forged report."""
GPS_NOISE_M: Final = 30.0
"""Two fixes this close may differ by noise alone, however little time is between them: never a jump."""
ROAD_FACTOR: Final = 1.3
"""Roads are longer than the great circle between two points of a city, by about this much."""
MIN_SPEED_MPS: Final = 2.0
"""The speed an ETA assumes at the least: a courier waiting at a light still arrives."""
FALLBACK_SPEED_MPS: Final = 6.0
"""About 22 km/h, a city courier's usual pace: the ETA's speed before any has been measured."""
SPEED_TIME_CONSTANT_S: Final = 60.0
"""How quickly the speed estimate follows a change: older segments weigh e^(-age/this)."""
MAX_POINTS: Final = 600
"""Ten minutes at one point a second: what a phone catching up after a tunnel sends at most."""


@dataclass(frozen=True)
class PositionReport:
    """One point a courier's phone reported: where, and when it was there."""

    lat: float
    lng: float
    at: datetime

    @property
    def point(self) -> GeoPoint:
        return GeoPoint(self.lat, self.lng)


@dataclass(frozen=True)
class LatestPosition:
    """The newest point stored for a courier, and the speed estimated when it was stored (None: unknown yet)."""

    lat: float
    lng: float
    at: datetime
    speed_mps: float | None = None

    @property
    def point(self) -> GeoPoint:
        return GeoPoint(self.lat, self.lng)


@dataclass(frozen=True)
class Accepted:
    """What a report adds: its points for the track, oldest first without duplicates, and the courier's new
    latest position if the report moved it (None when every point was older than the one stored)."""

    track: tuple[PositionReport, ...]
    latest: LatestPosition | None


def accept(reports: Sequence[PositionReport], stored: LatestPosition | None, now: datetime,
           field: str = "positions", max_speed_kmh: float = MAX_SPEED_KMH) -> Accepted:
    """The points of a report that are believable, or InvalidValue naming the first that is not
    (`positions[3].at` for a time, `positions[3]` for an impossible jump), in which case nothing is kept.

    Points with the same time as one before them (in the report, or the stored latest) are dropped; points
    older than the stored latest join the track but leave the latest where it is.
    """
    if not reports:
        raise InvalidValue(field, "must hold at least one position")
    if len(reports) > MAX_POINTS:
        raise InvalidValue(field, f"must hold at most {MAX_POINTS} positions")
    horizon = now + timedelta(seconds=FUTURE_TOLERANCE_S)
    for index, report in enumerate(reports):
        name = f"{field}[{index}]"
        GeoPoint.of(report.lat, report.lng, field=name)
        if report.at.tzinfo is None or report.at.utcoffset() is None:
            raise InvalidValue(f"{name}.at", "must name its time zone (RFC 3339, e.g. 2024-05-01T08:30:00Z)")
        if report.at > horizon:
            raise InvalidValue(f"{name}.at", f"is more than {FUTURE_TOLERANCE_S} s in the future")
    indexed = _distinct_in_time_order(reports, stored)
    _refuse_impossible_jumps(indexed, stored, field, max_speed_kmh)
    track = tuple(report for _, report in indexed)
    newer = [report for report in track if stored is None or report.at > stored.at]
    if not newer:
        return Accepted(track, None)
    newest = newer[-1]
    speed = _smoothed_speed(newer, stored)
    return Accepted(track, LatestPosition(newest.lat, newest.lng, newest.at, speed))


def eta(position: PositionReport | LatestPosition, destination: GeoPoint, speed_mps: float | None) -> datetime:
    """When a courier at `position` arrives at `destination` going at about `speed_mps` (None: not measured)."""
    remaining_m = position.point.distance_km(destination) * 1000 * ROAD_FACTOR
    speed = FALLBACK_SPEED_MPS if speed_mps is None else max(speed_mps, MIN_SPEED_MPS)
    return position.at + timedelta(seconds=remaining_m / speed)


def implied_speed_kmh(earlier: GeoPoint, earlier_at: datetime, later: GeoPoint, later_at: datetime) -> float:
    """The speed going from one point to the other takes, not counting what GPS noise explains."""
    seconds = (later_at - earlier_at).total_seconds()
    distance_m = max(0.0, earlier.distance_km(later) * 1000 - GPS_NOISE_M)
    if distance_m == 0:
        return 0.0
    return math.inf if seconds <= 0 else distance_m / seconds * 3.6


def _distinct_in_time_order(reports: Sequence[PositionReport],
                            stored: LatestPosition | None) -> list[tuple[int, PositionReport]]:
    # A stable sort: of two points with one time, the one sent first is kept.
    ordered = sorted(enumerate(reports), key=lambda pair: pair[1].at)
    seen = {stored.at} if stored is not None else set()
    kept = []
    for index, report in ordered:
        if report.at not in seen:
            seen.add(report.at)
            kept.append((index, report))
    return kept


def _refuse_impossible_jumps(indexed: list[tuple[int, PositionReport]], stored: LatestPosition | None,
                             field: str, max_speed_kmh: float) -> None:
    previous: tuple[GeoPoint, datetime] | None = None
    from_stored = stored is not None
    for index, report in indexed:
        anchors = [previous] if previous is not None else []
        if from_stored and stored is not None and report.at > stored.at:
            # The first point after the stored one: it has to be reachable from there too.
            anchors.append((stored.point, stored.at))
            from_stored = False
        for point, at in anchors:
            if implied_speed_kmh(point, at, report.point, report.at) > max_speed_kmh:
                raise InvalidValue(f"{field}[{index}]", f"implies more than {max_speed_kmh:g} km/h from the "
                                                        "point before it")
        previous = (report.point, report.at)


def _smoothed_speed(newer: list[PositionReport], stored: LatestPosition | None) -> float | None:
    """An exponentially weighted average of the segments' speeds, weighted by how long each took (so the
    estimate means the same whether a phone reports every second or every ten)."""
    speed = stored.speed_mps if stored is not None else None
    previous: tuple[GeoPoint, datetime] | None = (stored.point, stored.at) if stored is not None else None
    for report in newer:
        if previous is not None:
            seconds = (report.at - previous[1]).total_seconds()
            segment = previous[0].distance_km(report.point) * 1000 / seconds
            weight = 1 - math.exp(-seconds / SPEED_TIME_CONSTANT_S)
            speed = segment if speed is None else speed + weight * (segment - speed)
        previous = (report.point, report.at)
    return speed
