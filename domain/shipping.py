"""Couriers and the shipments they carry."""

from collections.abc import Iterable
from enum import StrEnum
from typing import Final
from uuid import UUID

from eventsourcing.domain import event

from domain.base import EnumState, LogisticsAggregate, stable_id
from domain.errors import InvalidTransition
from domain.values import DeliveryAddress, GeoPoint, non_blank


class CourierStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    BUSY = "BUSY"


class ShipmentStatus(StrEnum):
    WAITING_FOR_COURIER = "WAITING_FOR_COURIER"
    ASSIGNED = "ASSIGNED"
    """A courier is on the way to pick the goods up."""
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class OffDutyReason(StrEnum):
    SHIFT_ENDED = "shift_ended"
    SILENT = "silent"
    """The courier stopped reporting while holding a shipment, which went to another courier."""


OPEN_STATUSES: Final = frozenset({ShipmentStatus.WAITING_FOR_COURIER, ShipmentStatus.ASSIGNED,
                                  ShipmentStatus.IN_TRANSIT})
"""A shipment in one of these may still be cancelled."""


class Courier(LogisticsAggregate):
    status = EnumState(CourierStatus)
    on_duty = True
    """Couriers registered before shifts existed were always on duty (their snapshots have no such field)."""

    @event("Registered")
    def __init__(self, name: str, lat: float, lng: float) -> None:
        self.name = name
        self.position = GeoPoint(lat, lng)
        self.status = CourierStatus.AVAILABLE
        self.shipment_id: UUID | None = None
        self.on_duty = True

    @classmethod
    def register(cls, name: str, lat: float, lng: float) -> "Courier":
        point = GeoPoint.of(lat, lng)
        return cls(name=non_blank(name, "name"), lat=point.lat, lng=point.lng)

    @property
    def is_available(self) -> bool:
        """Free for a shipment: on duty and carrying nothing."""
        return self.on_duty and self.status is CourierStatus.AVAILABLE

    def go_on_duty(self) -> None:
        if self.on_duty:
            raise InvalidTransition(f"courier {self.id} is already on duty")
        self._went_on_duty()

    def go_off_duty(self, reason: OffDutyReason) -> None:
        """Only a courier who holds no shipment: the service hands an unpicked one to another courier first."""
        if not self.on_duty:
            raise InvalidTransition(f"courier {self.id} is already off duty")
        if self.shipment_id is not None:
            raise InvalidTransition(f"courier {self.id} still carries shipment {self.shipment_id}: deliver it first")
        self._went_off_duty(reason.value)

    def move_to(self, lat: float, lng: float) -> None:
        point = GeoPoint.of(lat, lng)
        self._moved(point.lat, point.lng)

    def take(self, shipment_id: UUID) -> None:
        if not self.on_duty:
            raise InvalidTransition(f"courier {self.id} is off duty")
        if not self.is_available:
            raise InvalidTransition(f"courier {self.id} is busy with shipment {self.shipment_id}")
        self._became_busy(shipment_id)

    def release(self) -> None:
        if self.is_available:
            raise InvalidTransition(f"courier {self.id} is already available")
        self._became_available()

    @event("LocationUpdated")
    def _moved(self, lat: float, lng: float) -> None:
        self.position = GeoPoint(lat, lng)

    @event("BecameBusy")
    def _became_busy(self, shipment_id: UUID) -> None:
        self.status = CourierStatus.BUSY
        self.shipment_id = shipment_id

    @event("BecameAvailable")
    def _became_available(self) -> None:
        self.status = CourierStatus.AVAILABLE
        self.shipment_id = None

    @event("WentOnDuty")
    def _went_on_duty(self) -> None:
        self.on_duty = True

    @event("WentOffDuty")
    def _went_off_duty(self, reason: str) -> None:
        self.on_duty = False


class Shipment(LogisticsAggregate):
    status = EnumState(ShipmentStatus)

    @staticmethod
    def create_id(order_id: UUID) -> UUID:
        return stable_id("shipment", str(order_id))

    @event("Created")
    def __init__(self, order_id: UUID, customer_id: str, destination: DeliveryAddress) -> None:
        self.order_id = order_id
        self.customer_id = customer_id
        self.destination = destination
        self.status = ShipmentStatus.WAITING_FOR_COURIER
        self.courier_id: UUID | None = None
        self.position: GeoPoint | None = None

    def assign(self, courier: Courier) -> None:
        if self.status is not ShipmentStatus.WAITING_FOR_COURIER:
            raise InvalidTransition(f"shipment {self.id} already has courier {self.courier_id}")
        courier.take(self.id)
        self._courier_assigned(self.order_id, courier.id, courier.position.lat, courier.position.lng)

    def pick_up(self, at: GeoPoint) -> None:
        """The courier has the goods: from here the shipment travels to the customer."""
        if self.status is not ShipmentStatus.ASSIGNED or self.courier_id is None:
            raise InvalidTransition(f"a shipment that is {self.status} cannot be picked up")
        self._picked_up(self.order_id, self.courier_id, at.lat, at.lng)

    def unassign(self, courier: Courier, reason: OffDutyReason) -> None:
        """Take the shipment back from a courier who has not picked it up (the shift ended, or the courier went
        silent), so that another can; the courier is free of it, and waits for the next."""
        if self.status is not ShipmentStatus.ASSIGNED or self.courier_id != courier.id:
            raise InvalidTransition(f"shipment {self.id} is {self.status}, not assigned to courier {courier.id}")
        destination = self.destination
        self._courier_unassigned(self.order_id, courier.id, reason.value, destination.lat, destination.lng,
                                 self.created_on.isoformat())
        courier.release()

    def record_checkpoint(self, at: GeoPoint, eta: str | None) -> None:
        """The route at a bounded rate (the position path decides when), for the order's story and the audit."""
        if self.status not in (ShipmentStatus.ASSIGNED, ShipmentStatus.IN_TRANSIT):
            raise InvalidTransition(f"a shipment that is {self.status} has no route to record")
        self._route_checkpoint(self.order_id, at.lat, at.lng, eta)

    def deliver(self) -> None:
        self._require_in_transit("be delivered")
        self._delivered(self.order_id)

    def cancel(self) -> None:
        """The order was cancelled before the goods were handed over."""
        if self.status not in OPEN_STATUSES:
            raise InvalidTransition(f"a shipment that is {self.status} cannot be cancelled")
        self._cancelled(self.order_id)

    def _require_in_transit(self, action: str) -> None:
        if self.status is not ShipmentStatus.IN_TRANSIT:
            raise InvalidTransition(f"a shipment that is {self.status} cannot {action}")

    @event("CourierAssigned")
    def _courier_assigned(self, order_id: UUID, courier_id: UUID, lat: float, lng: float) -> None:
        self.status = ShipmentStatus.ASSIGNED
        self.courier_id = courier_id
        self.position = GeoPoint(lat, lng)

    @event("PickedUp")
    def _picked_up(self, order_id: UUID, courier_id: UUID, lat: float, lng: float) -> None:
        self.status = ShipmentStatus.IN_TRANSIT
        self.position = GeoPoint(lat, lng)

    @event("CourierUnassigned")
    def _courier_unassigned(self, order_id: UUID, courier_id: UUID, reason: str, dest_lat: float, dest_lng: float,
                            waiting_since: str) -> None:
        self.status = ShipmentStatus.WAITING_FOR_COURIER
        self.courier_id = None

    @event("RouteCheckpoint")
    def _route_checkpoint(self, order_id: UUID, lat: float, lng: float, eta: str | None) -> None:
        self.position = GeoPoint(lat, lng)

    @event("LocationUpdated")
    def _location_updated(self, order_id: UUID, lat: float, lng: float) -> None:
        """Stores written before the route's checkpoints had one of these per courier report."""
        self.position = GeoPoint(lat, lng)

    @event("Delivered")
    def _delivered(self, order_id: UUID) -> None:
        self.status = ShipmentStatus.DELIVERED

    @event("Cancelled")
    def _cancelled(self, order_id: UUID) -> None:
        self.status = ShipmentStatus.CANCELLED


DISPATCHER_KEY = "default"


class Dispatcher(LogisticsAggregate):
    """Retired: nothing records it any more. It was the one stream every dispatch went through (the enrolled
    couriers and the queue of waiting shipments); dispatching now reads an index kept beside the Courier and
    Shipment events (`commands.dispatch_index`). The class stays so that the events older stores hold still
    decode and replay (their topics name it), for `logistics verify`, rebuilds and the audit log.
    """

    @staticmethod
    def create_id(key: str = DISPATCHER_KEY) -> UUID:
        return stable_id("dispatcher", key)

    @event("Opened")
    def __init__(self, key: str = DISPATCHER_KEY) -> None:
        self.couriers: list[UUID] = []
        self.waiting: list[UUID] = []

    def enroll(self, courier_id: UUID) -> None:
        if courier_id not in self.couriers:
            self._courier_enrolled(courier_id)

    def queue(self, shipment_id: UUID) -> None:
        if shipment_id not in self.waiting:
            self._shipment_queued(shipment_id)

    def dequeue(self, shipment_id: UUID) -> None:
        if shipment_id in self.waiting:
            self._shipment_dequeued(shipment_id)

    @event("CourierEnrolled")
    def _courier_enrolled(self, courier_id: UUID) -> None:
        self.couriers.append(courier_id)

    @event("ShipmentQueued")
    def _shipment_queued(self, shipment_id: UUID) -> None:
        self.waiting.append(shipment_id)

    @event("ShipmentDequeued")
    def _shipment_dequeued(self, shipment_id: UUID) -> None:
        self.waiting.remove(shipment_id)


def nearest_available(couriers: Iterable[Courier], destination: GeoPoint) -> Courier | None:
    """The free courier closest to a point by great-circle distance; ties go to the earliest registered."""
    free = [courier for courier in couriers if courier.is_available]
    if not free:
        return None
    return min(free, key=lambda courier: (courier.position.distance_km(destination), courier.created_on))
