"""The shipping context: couriers, their positions, and the shipments they carry."""

from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.actor import Actor, Role
from commands.base import ContextApplication, retry_on_conflict
from commands.errors import Forbidden
from domain.shipping import Courier, Shipment
from domain.values import DeliveryAddress


class Shipping(ContextApplication):
    name = "Shipping"
    # Couriers post a position every second: snapshots keep loading them cheap however long they work.
    snapshotting_intervals = {Courier: 100, Shipment: 100}

    def register_courier(self, name: str, lat: float, lng: float) -> tuple[Courier, int]:
        courier = Courier.register(name, lat, lng)
        return courier, self.save_all(courier)

    def get_courier(self, courier_id: UUID, actor: Actor | None = None) -> Courier:
        if actor is not None and actor.role is Role.COURIER and actor.subject != str(courier_id):
            raise Forbidden(f"a courier may act as itself only, not as courier {courier_id}")
        return self.load(courier_id, Courier)

    def get_shipment(self, shipment_id: UUID) -> Shipment:
        return self.load(shipment_id, Shipment)

    @retry_on_conflict
    def update_courier_location(self, actor: Actor, courier_id: UUID, lat: float, lng: float) -> int:
        """Move a courier; the shipment it carries moves with it, in the same transaction."""
        courier = self.get_courier(courier_id, actor)
        courier.move_to(lat, lng)
        if courier.shipment_id is None:
            return self.save_all(courier)
        shipment = self.get_shipment(courier.shipment_id)
        shipment.update_location(lat, lng)
        return self.save_all(courier, shipment)

    @retry_on_conflict
    def mark_delivered(self, actor: Actor, shipment_id: UUID) -> tuple[Shipment, int]:
        shipment = self.get_shipment(shipment_id)
        if actor.role is Role.COURIER and str(shipment.courier_id) != actor.subject:
            raise Forbidden(f"shipment {shipment_id} is not carried by courier {actor.subject}")
        shipment.deliver()
        return shipment, self.save_all(shipment)

    def create_shipment(self, order_id: UUID, customer_id: str, destination: DeliveryAddress) -> Shipment:
        """A shipment for a confirmed order; creating it twice yields the first one."""
        shipment = Shipment(order_id=order_id, customer_id=customer_id, destination=destination)
        try:
            self.save(shipment)
        except IntegrityError:
            return self.get_shipment(Shipment.create_id(order_id))
        return shipment
