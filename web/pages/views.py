"""What the templates get: read-model documents arranged for display (names resolved, maps projected)."""

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from domain.order import CANCELLABLE_STATUSES, OrderStatus
from queries.late_deliveries import is_late
from web.pages.maps import JAKARTA, Basemap, Cluster, MapFrame, Point, basemap, clusters
from web.pages.reads import PageReads, parse_uuid

STREETS: Final = ("Jl. Jaksa", "Jl. Sabang", "Jl. Cikini Raya", "Jl. Kemang Raya", "Jl. Senopati",
                  "Jl. Tebet Raya", "Jl. Menteng Raya", "Jl. Kebon Sirih", "Jl. Gajah Mada", "Jl. Tanah Abang")
ORDER_STEPS: Final = ("PENDING", "CONFIRMED", "IN_TRANSIT", "DELIVERED", "RECEIVED")
DELIVERY_STEPS: Final = {
    "Shipment.CourierAssigned": ("assigned", "Courier assigned"),
    "Shipment.CourierUnassigned": ("reassigned", "Reassigned"),
    "Shipment.PickedUp": ("picked_up", "Picked up"),
    "Shipment.Delivered": ("delivered", "Delivered"),
}
DELIVERY_TODO: Final = (("assigned", "Courier assigned"), ("picked_up", "Picked up"), ("delivered", "Delivered"))
ON_THE_WAY: Final = frozenset({"ASSIGNED", "IN_TRANSIT"})


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
    at: str = ""
    """When the courier was at this position: a live frame moves the marker only if it is newer."""


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
    """The delivery point, the courier's route so far and its last position, around the delivery point. After a
    reassignment the route starts again at the new courier."""
    destination = _point(order.get("delivery"))
    if destination is None:
        return None
    shipment = order.get("shipment") or {}
    shipment_id = parse_uuid(str(shipment.get("shipment_id", "")))
    assigned_version = shipment.get("assigned_version")
    since = assigned_version if isinstance(assigned_version, int) else 0
    track = [(point.lat, point.lng) for point in pages.shipments.track(shipment_id)
             if point.version >= since] if shipment_id else []
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
class DeliveryStep:
    kind: str
    """`assigned`, `reassigned`, `picked_up` or `delivered`."""
    label: str
    at: str | None
    """None for a step still to come."""


@dataclass(frozen=True)
class Arrival:
    """When the courier is expected, and what was promised."""

    eta: str | None
    promised_by: str | None
    late: bool
    on_the_way: bool
    """A courier is on the way (to pick the goods up, or to the customer): positions move the marker."""


@dataclass(frozen=True)
class OrderView:
    order: dict[str, Any]
    lines: list[dict[str, Any]]
    steps: list[tuple[str, str]]
    """Each step of the happy path with `done`, `current` or `todo`."""
    cancellable: bool
    receivable: bool
    map: MapView | None
    delivery_steps: list[DeliveryStep] = field(default_factory=list)
    arrival: Arrival = field(default_factory=lambda: Arrival(None, None, False, False))


def delivery_steps(order: dict[str, Any]) -> list[DeliveryStep]:
    """The shipment's story from the timeline (assigned, reassigned and why, picked up, delivered), then the
    steps still to come unless the order was cancelled."""
    reached = []
    for entry in order.get("timeline") or []:
        if not isinstance(entry, dict) or entry.get("event") not in DELIVERY_STEPS:
            continue
        kind, label = DELIVERY_STEPS[entry["event"]]
        note = entry.get("note")
        text = f"{note[:1].upper()}{note[1:]}" if kind == "reassigned" and isinstance(note, str) else label
        reached.append(DeliveryStep(kind, text, str(entry.get("at", ""))))
    if order.get("status") == OrderStatus.CANCELLED.value:
        return reached
    # A reassignment starts the delivery over: what the new courier has done counts, the rest is to come.
    restart = max((index + 1 for index, step in enumerate(reached) if step.kind == "reassigned"), default=0)
    done = {step.kind for step in reached[restart:]}
    return reached + [DeliveryStep(kind, label, None) for kind, label in DELIVERY_TODO if kind not in done]


def arrival(order: dict[str, Any], now: datetime | None = None) -> Arrival:
    shipment = order.get("shipment") or {}
    eta, promised = _moment(shipment.get("eta")), _moment(order.get("promised_by"))
    on_the_way = shipment.get("status") in ON_THE_WAY and order.get("status") in ("CONFIRMED", "IN_TRANSIT")
    late = on_the_way and promised is not None and is_late(eta, promised, now or datetime.now(UTC))
    return Arrival(eta.isoformat() if eta else None, promised.isoformat() if promised else None, late, on_the_way)


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


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
        delivery_steps=delivery_steps(order),
        arrival=arrival(order),
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
        markers.append(Marker(projected.x, projected.y, str(courier.get("name", "")), courier_tone(courier),
                              id=courier_id, to=frame.project(*target) if target else None,
                              address=str((destinations.get(courier_id) or {}).get("address") or ""),
                              at=str((courier.get("position") or {}).get("at") or "")))
    return MapView(frame=frame, markers=markers, groups=clusters([(Point(m.x, m.y), m) for m in markers]),
                   base=basemap(frame))


def courier_tone(courier: dict[str, Any]) -> str:
    """`busy` carrying a shipment, `free` on duty and waiting for one, `off` off duty (a document from before
    shifts has no `on_duty`: such couriers were always on duty)."""
    if courier.get("status") == "BUSY":
        return "busy"
    return "free" if courier.get("on_duty", True) else "off"


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
