"""The shipping context: couriers, their positions, the shipments they carry, and dispatching."""

from uuid import UUID

from commands.actor import Actor, Role
from commands.base import Changed, ContextApplication, retry_on_conflict
from commands.errors import Forbidden, NotFound
from domain.base import causation_id_var, message_context
from domain.shipping import Courier, Dispatcher, Shipment, ShipmentStatus, nearest_available
from domain.values import DeliveryAddress


class Shipping(ContextApplication):
    name = "Shipping"
    # Couriers post a position every second: snapshots keep loading them cheap however long they work.
    snapshotting_intervals = {Courier: 100, Shipment: 100, Dispatcher: 200}

    # Commands from the API.

    @retry_on_conflict
    def register_courier(self, name: str, lat: float, lng: float) -> tuple[Courier, int]:
        """A new courier is enrolled for dispatch and takes the oldest waiting shipment, if any."""
        courier = Courier.register(name, lat, lng)
        dispatcher = self.dispatcher()
        dispatcher.enroll(courier.id)
        changed = [courier, dispatcher, *self._give_waiting_shipment(dispatcher, courier)]
        return courier, self.save_all(*changed)

    def get_courier(self, courier_id: UUID, actor: Actor | None = None) -> Courier:
        if actor is not None and actor.role is Role.COURIER and actor.subject != str(courier_id):
            raise Forbidden(f"a courier may act as itself only, not as courier {courier_id}")
        return self.load(courier_id, Courier)

    def get_shipment(self, shipment_id: UUID) -> Shipment:
        return self.load(shipment_id, Shipment)

    def find_shipment_for(self, order_id: UUID) -> Shipment | None:
        try:
            return self.get_shipment(Shipment.create_id(order_id))
        except NotFound:
            return None

    @retry_on_conflict
    def update_courier_location(self, actor: Actor, courier_id: UUID, lat: float, lng: float) -> int:
        """Move a courier; the shipment it carries moves with it, in the same transaction."""
        courier = self.get_courier(courier_id, actor)
        courier.move_to(lat, lng)
        if courier.shipment_id is None:
            return self.save_all(courier)
        shipment = self.get_shipment(courier.shipment_id)
        if shipment.status is not ShipmentStatus.IN_TRANSIT:
            return self.save_all(courier)
        shipment.update_location(lat, lng)
        return self.save_all(courier, shipment)

    @retry_on_conflict
    def mark_delivered(self, actor: Actor, shipment_id: UUID) -> tuple[Shipment, int]:
        shipment = self.get_shipment(shipment_id)
        if actor.role is Role.COURIER and str(shipment.courier_id) != actor.subject:
            # As the query API answers it: another courier's shipment is indistinguishable from a missing one,
            # so shipment ids (derived from order ids) cannot be probed.
            raise NotFound("shipment", shipment_id)
        shipment.deliver()
        return shipment, self.save_all(shipment)

    # Decisions the saga takes; each returns the aggregates it changed, for the caller to record atomically.

    def dispatcher(self) -> Dispatcher:
        try:
            return self.load(Dispatcher.create_id(), Dispatcher)
        except NotFound:
            return Dispatcher()

    def ship_order(self, order_id: UUID, customer_id: str, destination: DeliveryAddress) -> Changed:
        """A confirmed order gets a shipment and the nearest free courier, or waits in line for one."""
        if self.find_shipment_for(order_id) is not None:
            return []
        shipment = Shipment(order_id=order_id, customer_id=customer_id, destination=destination)
        dispatcher = self.dispatcher()
        courier = nearest_available(self._couriers(dispatcher), destination.point)
        if courier is None:
            dispatcher.queue(shipment.id)
            return [shipment, dispatcher]
        shipment.assign(courier)
        return [shipment, courier]

    def cancel_shipment(self, order_id: UUID) -> Changed:
        """The order was cancelled: its shipment stops, and a courier carrying it is free again."""
        shipment = self.find_shipment_for(order_id)
        if shipment is None or shipment.status not in (ShipmentStatus.WAITING_FOR_COURIER, ShipmentStatus.IN_TRANSIT):
            return []
        dispatcher = self.dispatcher()
        dispatcher.dequeue(shipment.id)
        shipment.cancel()
        changed: Changed = [shipment, dispatcher]
        if shipment.courier_id is not None:
            changed.extend(self.free_courier(shipment.courier_id, dispatcher))
        return changed

    def finish_shipment(self, order_id: UUID) -> Changed:
        """The customer has the goods: the courier is free for the next shipment."""
        shipment = self.find_shipment_for(order_id)
        if shipment is None or shipment.courier_id is None:
            return []
        courier = self.load(shipment.courier_id, Courier)
        if courier.shipment_id != shipment.id:
            return []
        return self.free_courier(courier.id)

    def free_courier(self, courier_id: UUID, dispatcher: Dispatcher | None = None) -> Changed:
        courier = self.load(courier_id, Courier)
        if courier.is_available:
            return []
        courier.release()
        dispatcher = dispatcher or self.dispatcher()
        return [courier, dispatcher, *self._give_waiting_shipment(dispatcher, courier)]

    def _give_waiting_shipment(self, dispatcher: Dispatcher, courier: Courier) -> Changed:
        for shipment_id in list(dispatcher.waiting):
            shipment = self.get_shipment(shipment_id)
            dispatcher.dequeue(shipment_id)
            if shipment.status is ShipmentStatus.WAITING_FOR_COURIER:
                # Whatever freed the courier, this hand-over is part of the waiting order's journey.
                with message_context(str(shipment.order_id), causation_id_var.get()):
                    shipment.assign(courier)
                return [shipment]
        return []

    def _couriers(self, dispatcher: Dispatcher) -> list[Courier]:
        return [self.load(courier_id, Courier) for courier_id in dispatcher.couriers]
