"""What the templates get: read-model documents arranged for display (names resolved, maps projected)."""

import random
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from domain.order import CANCELLABLE_STATUSES, OrderStatus
from web.pages.maps import JAKARTA, MapFrame, Point
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


@dataclass(frozen=True)
class MapView:
    frame: MapFrame
    markers: list[Marker] = field(default_factory=list)
    route: str = ""
    """An SVG polyline's points: the track the courier drove."""
    destination: Point | None = None
    courier: Point | None = None


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
        steps=_steps(status),
        cancellable=status in {state.value for state in CANCELLABLE_STATUSES},
        receivable=status == OrderStatus.DELIVERED.value,
        map=order_map(pages, order),
    )


def _subtotal(item: dict[str, Any]) -> str:
    try:
        return str(Decimal(str(item.get("unit_price"))) * int(item.get("quantity", 0)))
    except (InvalidOperation, ValueError, TypeError):
        return ""


def _steps(status: str) -> list[tuple[str, str]]:
    if status == OrderStatus.CANCELLED.value or status not in ORDER_STEPS:
        return [(step, "todo") for step in ORDER_STEPS]
    reached = ORDER_STEPS.index(status)
    return [(step, "done" if i < reached else "current" if i == reached else "todo")
            for i, step in enumerate(ORDER_STEPS)]


def couriers_map(couriers: list[dict[str, Any]]) -> MapView:
    placed = [(courier, point) for courier in couriers if (point := _point(courier.get("position")))]
    frame = MapFrame.fitting([point for _, point in placed])
    markers = []
    for courier, point in placed:
        projected = frame.project(*point)
        busy = courier.get("status") == "BUSY"
        markers.append(Marker(projected.x, projected.y, str(courier.get("name", "")), "busy" if busy else "free",
                              id=str(courier.get("id", ""))))
    return MapView(frame=frame, markers=markers)


def assignment_map(courier: dict[str, Any], shipment: dict[str, Any] | None) -> MapView | None:
    position = _point(courier.get("position"))
    destination = _point((shipment or {}).get("destination"))
    centre = destination or position
    if centre is None:
        return None
    others = [point for point in (position,) if point is not None]
    frame = MapFrame.around(centre, others, minimum_km=1.0)
    return MapView(frame=frame, destination=frame.project(*destination) if destination else None,
                   courier=frame.project(*position) if position else None)
