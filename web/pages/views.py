"""What the templates get: read-model documents arranged for display (names resolved, maps projected)."""

import random
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from domain.order import CANCELLABLE_STATUSES, OrderStatus
from web.pages.maps import JAKARTA, Basemap, Cluster, MapFrame, Point, basemap, clusters
from web.pages.reads import PageReads, parse_uuid

STREETS: Final = ("Jl. Jaksa", "Jl. Sabang", "Jl. Cikini Raya", "Jl. Kemang Raya", "Jl. Senopati",
                  "Jl. Tebet Raya", "Jl. Menteng Raya", "Jl. Kebon Sirih", "Jl. Gajah Mada", "Jl. Tanah Abang")
ORDER_STEPS: Final = ("PENDING", "CONFIRMED", "IN_TRANSIT", "DELIVERED", "RECEIVED")


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str
    tone: str
    id: str = ""
    to: Point | None = None
    """Where a busy courier is taking its shipment."""
    address: str = ""


@dataclass(frozen=True)
class MapView:
    frame: MapFrame
    markers: list[Marker] = field(default_factory=list)
    route: str = ""
    """An SVG polyline's points: the track the courier drove."""
    destination: Point | None = None
    courier: Point | None = None
    groups: list[Cluster] = field(default_factory=list)
    """The markers, grouped where they would overlap on screen."""
    base: Basemap = field(default_factory=Basemap)


@dataclass(frozen=True)
class DeliveryDraft:
    address: str
    lat: float
    lng: float


def delivery_draft(rng: random.Random | None = None) -> DeliveryDraft:
    """A plausible address within a few kilometres of central Jakarta, to start the order form with."""
    rng = rng or random.Random()
    lat = JAKARTA[0] + rng.uniform(-0.03, 0.03)
    lng = JAKARTA[1] + rng.uniform(-0.03, 0.03)
    return DeliveryDraft(f"{rng.choice(STREETS)} {rng.randint(1, 120)}, Jakarta", round(lat, 5), round(lng, 5))


def _point(value: Any) -> tuple[float, float] | None:
    if isinstance(value, dict) and isinstance(value.get("lat"), int | float) and isinstance(value.get("lng"),
                                                                                             int | float):
        return float(value["lat"]), float(value["lng"])
    return None


def order_map(pages: PageReads, order: dict[str, Any]) -> MapView | None:
    """The delivery point, the courier's route so far and its last position, around the delivery point."""
    destination = _point(order.get("delivery"))
    if destination is None:
        return None
    shipment = order.get("shipment") or {}
    shipment_id = parse_uuid(str(shipment.get("shipment_id", "")))
    track = [(point.lat, point.lng) for point in pages.shipments.track(shipment_id)] if shipment_id else []
    courier = _point(shipment.get("position")) or (track[-1] if track else None)
    if courier is not None and (not track or track[-1] != courier):
        track.append(courier)
    frame = MapFrame.around(destination, track, minimum_km=1.0)
    return MapView(
        frame=frame,
        base=basemap(frame),
        route=frame.polyline(track) if len(track) > 1 else "",
        destination=frame.project(*destination),
        courier=frame.project(*courier) if courier else None,
    )


@dataclass(frozen=True)
class OrderView:
    order: dict[str, Any]
    lines: list[dict[str, Any]]
    steps: list[tuple[str, str]]
    """Each step of the happy path with `done`, `current` or `todo`."""
    cancellable: bool
    receivable: bool
    map: MapView | None


def order_view(pages: PageReads, order: dict[str, Any]) -> OrderView:
    status = str(order.get("status", ""))
    items = [item for item in order.get("items") or [] if isinstance(item, dict)]
    names = pages.product_names([str(item.get("product_id", "")) for item in items])
    lines = [{**item, "name": names.get(str(item.get("product_id")), "(unknown product)"),
              "subtotal": _subtotal(item)} for item in items]
    return OrderView(
        order=order,
        lines=lines,
        steps=_steps(status, order.get("timeline")),
        cancellable=status in {state.value for state in CANCELLABLE_STATUSES},
        receivable=status == OrderStatus.DELIVERED.value,
        map=order_map(pages, order),
    )


def _subtotal(item: dict[str, Any]) -> str:
    try:
        return str(Decimal(str(item.get("unit_price"))) * int(item.get("quantity", 0)))
    except (InvalidOperation, ValueError, TypeError):
        return ""


def _steps(status: str, timeline: list[Any] | None = None) -> list[tuple[str, str]]:
    if status == OrderStatus.CANCELLED.value:
        # What it had reached, then where it stopped: the steps it will never take are not shown as to come.
        seen = {entry.get("status") for entry in timeline or [] if isinstance(entry, dict)}
        reached_steps = [step for step in ORDER_STEPS if step in seen] or [ORDER_STEPS[0]]
        return [(step, "done") for step in reached_steps] + [(OrderStatus.CANCELLED.value, "cancelled")]
    if status not in ORDER_STEPS:
        return [(step, "todo") for step in ORDER_STEPS]
    reached = ORDER_STEPS.index(status)
    return [(step, "done" if i < reached else "current" if i == reached else "todo")
            for i, step in enumerate(ORDER_STEPS)]


def couriers_map(couriers: list[dict[str, Any]], destinations: dict[str, dict[str, Any]] | None = None) -> MapView:
    """Every courier, and where each busy one is heading; fitted to all of them and their destinations."""
    destinations = destinations or {}
    placed = [(courier, point) for courier in couriers if (point := _point(courier.get("position")))]
    targets = {courier_id: point for courier_id, destination in destinations.items()
               if (point := _point(destination))}
    frame = MapFrame.fitting([point for _, point in placed] + list(targets.values()))
    markers = []
    for courier, point in placed:
        projected = frame.project(*point)
        busy = courier.get("status") == "BUSY"
        courier_id = str(courier.get("id", ""))
        target = targets.get(courier_id) if busy else None
        markers.append(Marker(projected.x, projected.y, str(courier.get("name", "")), "busy" if busy else "free",
                              id=courier_id, to=frame.project(*target) if target else None,
                              address=str((destinations.get(courier_id) or {}).get("address") or "")))
    return MapView(frame=frame, markers=markers, groups=clusters([(Point(m.x, m.y), m) for m in markers]),
                   base=basemap(frame))


def natural_key(text: str) -> tuple[Any, ...]:
    """`Courier 2` before `Courier 10`: digits compare as numbers."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", text))


def assignment_map(courier: dict[str, Any], shipment: dict[str, Any] | None) -> MapView | None:
    position = _point(courier.get("position"))
    destination = _point((shipment or {}).get("destination"))
    centre = destination or position
    if centre is None:
        return None
    others = [point for point in (position,) if point is not None]
    frame = MapFrame.around(centre, others, minimum_km=1.0)
    return MapView(frame=frame, base=basemap(frame), destination=frame.project(*destination) if destination else None,
                   courier=frame.project(*position) if position else None)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    peak: int


def rate_chart(bins: list[tuple[Any, int]], width: int = 360, height: int = 80) -> BarChart:
    """Orders per minute as small bars, the newest minute at the right."""
    peak = max((count for _, count in bins), default=0)
    slot = width / max(len(bins), 1)
    bars = []
    for i, (minute, count) in enumerate(bins):
        bar_height = (height - 14) * count / peak if peak else 0
        bars.append(Bar(round(i * slot + 1, 2), round(height - bar_height, 2), round(max(slot - 2, 1), 2),
                        round(bar_height, 2), f"{minute:%H:%M} · {count} orders"))
    return BarChart(width, height, bars, peak)


@dataclass(frozen=True)
class LagSummary:
    """The projections' and saga steps' worst lag, for the dashboard; the status page has every row."""

    events: int
    seconds: float | None
    worst: str
    followers: int

    @classmethod
    def of(cls, status: Any) -> "LagSummary":
        followers = list(status.followers)
        worst = max(followers, key=lambda f: (f.lag_events, f.lag_seconds or 0.0), default=None)
        if worst is None:
            return cls(0, 0.0, "", 0)
        return cls(worst.lag_events, worst.lag_seconds, worst.follower if worst.lag_events else "", len(followers))
