"""The dispatch index: where the free couriers are and which shipments wait, as rows derived from events.

A hint for dispatching, never its authority. A decision asks the index for a few candidates, loads those
aggregates and acts only on what they say (a Courier takes one shipment at a time, a Shipment gets one courier);
two decisions that pick the same courier conflict on its version, and one decides again.

The rows change in the transaction that records the events they follow (`changes_of` computes what changes,
an adapter writes it), so they are never behind what is committed. They are behind what a saga batch has
decided and not yet recorded: the decisions overlay those aggregates themselves (`Shipping.in_hand`).
This module is pure: the changes, the fold that rebuilds the rows from a log, and an in-memory index for the
library's in-memory persistence (the PostgreSQL one is `adapters.dispatch_index`).
"""

import math
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.shipping import Courier, Shipment
from domain.values import GeoPoint

RECORDING_KWARG = "dispatch_changes"
"""The recording keyword (`save(..., dispatch_changes=...)`) that carries a write's changes to the recorder."""


@dataclass(frozen=True)
class CourierRow:
    courier_id: UUID
    available: bool
    """On duty and holding no shipment."""
    lat: float
    lng: float
    updated_at: datetime
    shipment_id: UUID | None = None
    """The shipment the courier holds (the position path routes its reports by it)."""


@dataclass(frozen=True)
class WaitingRow:
    """A shipment waiting for a courier; `queued_at` is when it was created (oldest first)."""

    shipment_id: UUID
    order_id: UUID
    lat: float
    lng: float
    queued_at: datetime


@dataclass(frozen=True)
class CourierChange:
    """What one recording changes of a courier's row: all of it (registered), or some of its values."""

    courier_id: UUID
    at: datetime
    registered: bool = False
    available: bool | None = None
    lat: float | None = None
    lng: float | None = None
    holds_changed: bool = False
    """Whether `shipment_id` is news (None then means: holds nothing now)."""
    shipment_id: UUID | None = None

    def then(self, later: "CourierChange") -> "CourierChange":
        return CourierChange(
            courier_id=self.courier_id,
            at=later.at,
            registered=self.registered or later.registered,
            available=later.available if later.available is not None else self.available,
            lat=later.lat if later.lat is not None else self.lat,
            lng=later.lng if later.lng is not None else self.lng,
            holds_changed=self.holds_changed or later.holds_changed,
            shipment_id=later.shipment_id if later.holds_changed else self.shipment_id,
        )

    def row(self) -> CourierRow:
        """The whole row of a courier registered in this recording."""
        if self.available is None or self.lat is None or self.lng is None:
            raise ValueError(f"courier {self.courier_id}: not a registration, so not a whole row")
        return CourierRow(self.courier_id, self.available, self.lat, self.lng, self.at, self.shipment_id)

    def applied_to(self, row: CourierRow) -> CourierRow:
        return CourierRow(
            courier_id=row.courier_id,
            available=self.available if self.available is not None else row.available,
            lat=self.lat if self.lat is not None else row.lat,
            lng=self.lng if self.lng is not None else row.lng,
            updated_at=self.at,
            shipment_id=self.shipment_id if self.holds_changed else row.shipment_id,
        )


@dataclass(frozen=True)
class DispatchChanges:
    """The index's changes for one recording, each list in id order (writers lock rows in one global order,
    so two transactions never wait for each other's rows in a cycle)."""

    couriers: tuple[CourierChange, ...] = ()
    queued: tuple[WaitingRow, ...] = ()
    unqueued: tuple[UUID, ...] = ()
    """Shipments that stopped waiting: a courier was assigned, or they were cancelled."""

    def __bool__(self) -> bool:
        return bool(self.couriers or self.queued or self.unqueued)


def _event_class(aggregate: type, name: str) -> type[Any]:
    found = vars(aggregate)[name]
    assert isinstance(found, type)
    return found


COURIER_REGISTERED = _event_class(Courier, "Registered")
COURIER_MOVED = _event_class(Courier, "LocationUpdated")
COURIER_BUSY = _event_class(Courier, "BecameBusy")
COURIER_AVAILABLE = _event_class(Courier, "BecameAvailable")
COURIER_ON_DUTY = _event_class(Courier, "WentOnDuty")
COURIER_OFF_DUTY = _event_class(Courier, "WentOffDuty")
SHIPMENT_CREATED = _event_class(Shipment, "Created")
SHIPMENT_UNASSIGNED = _event_class(Shipment, "CourierUnassigned")
# The facts after which a shipment no longer waits (delivery needs a courier first, so it is only defensive).
SHIPMENT_SETTLED = (
    _event_class(Shipment, "CourierAssigned"), _event_class(Shipment, "Cancelled"), _event_class(Shipment, "Delivered"),
)


def _courier_change(event: Any) -> CourierChange | None:
    kind = type(event)
    at: datetime = event.timestamp
    if kind is COURIER_REGISTERED:
        return CourierChange(event.originator_id, at, registered=True, available=True, lat=event.lat, lng=event.lng)
    if kind is COURIER_MOVED:
        return CourierChange(event.originator_id, at, lat=event.lat, lng=event.lng)
    if kind is COURIER_BUSY:
        return CourierChange(event.originator_id, at, available=False, holds_changed=True,
                             shipment_id=event.shipment_id)
    if kind is COURIER_AVAILABLE:
        # Only an on-duty courier is ever released (going off duty needs empty hands), so free means available.
        return CourierChange(event.originator_id, at, available=True, holds_changed=True, shipment_id=None)
    if kind is COURIER_ON_DUTY:
        return CourierChange(event.originator_id, at, available=True)
    if kind is COURIER_OFF_DUTY:
        return CourierChange(event.originator_id, at, available=False)
    return None


def changes_of(events: Iterable[Any]) -> DispatchChanges:
    """What recording these events (in order) changes in the index; any other event changes nothing."""
    couriers: dict[UUID, CourierChange] = {}
    waiting: dict[UUID, WaitingRow | None] = {}
    created_here: set[UUID] = set()
    for event in events:
        change = _courier_change(event)
        if change is not None:
            earlier = couriers.get(change.courier_id)
            couriers[change.courier_id] = change if earlier is None else earlier.then(change)
        elif type(event) is SHIPMENT_CREATED:
            destination = event.destination
            waiting[event.originator_id] = WaitingRow(event.originator_id, event.order_id, destination.lat,
                                                      destination.lng, event.timestamp)
            created_here.add(event.originator_id)
        elif type(event) is SHIPMENT_UNASSIGNED:
            # Back in the queue at its first place: it has waited since it was created.
            waiting[event.originator_id] = WaitingRow(event.originator_id, event.order_id, event.dest_lat,
                                                      event.dest_lng, datetime.fromisoformat(event.waiting_since))
        elif isinstance(event, SHIPMENT_SETTLED):
            if event.originator_id in created_here:
                waiting.pop(event.originator_id, None)  # queued and settled at once: the index never sees it
            else:
                waiting[event.originator_id] = None
    return DispatchChanges(
        couriers=tuple(couriers[courier_id] for courier_id in sorted(couriers, key=lambda each: each.int)),
        queued=tuple(row for _, row in sorted(waiting.items(), key=lambda item: item[0].int) if row is not None),
        unqueued=tuple(sorted((shipment_id for shipment_id, row in waiting.items() if row is None),
                              key=lambda each: each.int)),
    )


def nearness(point: GeoPoint) -> Callable[[float, float], float]:
    """An order of nearness to `point` (equirectangular, squared degrees): cheap, and close enough to the
    great-circle distance over a city for a hint. The PostgreSQL index orders by the same expression."""
    stretch = math.cos(math.radians(point.lat))

    def key(lat: float, lng: float) -> float:
        return (lat - point.lat) ** 2 + ((lng - point.lng) * stretch) ** 2

    return key


class MemoryDispatchIndex:
    """The index in memory: for the library's in-memory persistence, and for rebuilding rows from a log."""

    def __init__(self) -> None:
        self.couriers: dict[UUID, CourierRow] = {}
        self.waiting: dict[UUID, WaitingRow] = {}
        self._lock = threading.Lock()

    def apply(self, changes: DispatchChanges) -> None:
        with self._lock:
            for change in changes.couriers:
                if change.registered:
                    self.couriers[change.courier_id] = change.row()
                elif change.courier_id in self.couriers:
                    self.couriers[change.courier_id] = change.applied_to(self.couriers[change.courier_id])
            for row in changes.queued:
                self.waiting.setdefault(row.shipment_id, row)
            for shipment_id in changes.unqueued:
                self.waiting.pop(shipment_id, None)

    def nearest_available_couriers(self, point: GeoPoint, limit: int,
                                   passing_over: Collection[UUID] = ()) -> list[UUID]:
        key = nearness(point)
        with self._lock:
            free = [row for row in self.couriers.values() if row.available and row.courier_id not in passing_over]
        free.sort(key=lambda row: (key(row.lat, row.lng), row.courier_id.int))
        return [row.courier_id for row in free[:limit]]

    def oldest_waiting_shipments(self, limit: int, passing_over: Collection[UUID] = ()) -> list[UUID]:
        with self._lock:
            waiting = [row for row in self.waiting.values() if row.shipment_id not in passing_over]
        waiting.sort(key=lambda row: (row.queued_at, row.shipment_id.int))
        return [row.shipment_id for row in waiting[:limit]]


def index_of(events: Iterable[Any], page: int = 1000) -> MemoryDispatchIndex:
    """The index as a log of shipping events (in log order) leaves it: how the rows are rebuilt."""
    index = MemoryDispatchIndex()
    batch: list[Any] = []
    for event in events:
        batch.append(event)
        if len(batch) >= page:
            index.apply(changes_of(batch))
            batch.clear()
    index.apply(changes_of(batch))
    return index


def same_rows(expected: MemoryDispatchIndex, couriers: Iterable[CourierRow],
              waiting: Iterable[WaitingRow]) -> list[str]:
    """How stored rows differ from those a log implies (`logistics verify`); empty when they agree."""
    problems: list[str] = []
    stored_couriers = {row.courier_id: row for row in couriers}
    stored_waiting = {row.shipment_id: row for row in waiting}
    for courier_id in sorted(expected.couriers.keys() | stored_couriers.keys(), key=lambda each: each.int):
        want, have = expected.couriers.get(courier_id), stored_couriers.get(courier_id)
        if have is None:
            problems.append(f"courier {courier_id} is missing from the index")
        elif want is None:
            problems.append(f"courier {courier_id} is in the index but the log never registered it")
        elif have != want:
            problems.append(f"courier {courier_id}: the index says available={have.available} at "
                            f"({have.lat}, {have.lng}), the log available={want.available} at ({want.lat}, {want.lng})")
    for shipment_id in sorted(expected.waiting.keys() | stored_waiting.keys(), key=lambda each: each.int):
        if shipment_id not in stored_waiting:
            problems.append(f"shipment {shipment_id} waits for a courier but is not in the index's queue")
        elif shipment_id not in expected.waiting:
            problems.append(f"shipment {shipment_id} is in the index's queue but does not wait for a courier")
        elif stored_waiting[shipment_id] != expected.waiting[shipment_id]:
            problems.append(f"shipment {shipment_id}: the index queues it as {stored_waiting[shipment_id]}, "
                            f"the log as {expected.waiting[shipment_id]}")
    return problems
