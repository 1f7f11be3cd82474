"""Couriers and the shipments they carry."""

from collections.abc import Iterable
from enum import StrEnum
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
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class Courier(LogisticsAggregate):
    status = EnumState(CourierStatus)

    @event("Registered")
    def __init__(self, name: str, lat: float, lng: float) -> None:
        self.name = name
        self.position = GeoPoint(lat, lng)
        self.status = CourierStatus.AVAILABLE
        self.shipment_id: UUID | None = None

    @classmethod
    def register(cls, name: str, lat: float, lng: float) -> "Courier":
        point = GeoPoint.of(lat, lng)
        return cls(name=non_blank(name, "name"), lat=point.lat, lng=point.lng)

    @property
    def is_available(self) -> bool:
        return self.status is CourierStatus.AVAILABLE

    def move_to(self, lat: float, lng: float) -> None:
        point = GeoPoint.of(lat, lng)
        self._moved(point.lat, point.lng)

    def take(self, shipment_id: UUID) -> None:
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

    def update_location(self, lat: float, lng: float) -> None:
        self._require_in_transit("move")
        point = GeoPoint.of(lat, lng)
        self._location_updated(self.order_id, point.lat, point.lng)

    def deliver(self) -> None:
        self._require_in_transit("be delivered")
        self._delivered(self.order_id)

    def cancel(self) -> None:
        """The order was cancelled before the goods were handed over."""
        if self.status not in (ShipmentStatus.WAITING_FOR_COURIER, ShipmentStatus.IN_TRANSIT):
            raise InvalidTransition(f"a shipment that is {self.status} cannot be cancelled")
        self._cancelled(self.order_id)

    def _require_in_transit(self, action: str) -> None:
        if self.status is not ShipmentStatus.IN_TRANSIT:
            raise InvalidTransition(f"a shipment that is {self.status} cannot {action}")

    @event("CourierAssigned")
    def _courier_assigned(self, order_id: UUID, courier_id: UUID, lat: float, lng: float) -> None:
        self.status = ShipmentStatus.IN_TRANSIT
        self.courier_id = courier_id
        self.position = GeoPoint(lat, lng)

    @event("LocationUpdated")
    def _location_updated(self, order_id: UUID, lat: float, lng: float) -> None:
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
