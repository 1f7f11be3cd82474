"""The shipping context: couriers, their positions, the shipments they carry, and dispatching.

Dispatching has no aggregate of its own. A decision asks the dispatch index (`commands.dispatch_index`) for a
few candidates (the nearest couriers it has as free, the oldest shipments it has as waiting), loads those
aggregates and acts on the first that really qualifies: a Courier takes one shipment at a time, a Shipment is
assigned once, and two decisions that pick the same courier conflict on its version, so one decides again.
"""

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Final, TypeVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import Recording
from eventsourcing.popo import POPOFactory

from commands.context_application import Changed, ContextApplication, EventsRecorded, fold_events, retry_on_conflict
from commands.dispatch_index import RECORDING_KWARG, MemoryDispatchIndex, changes_of
from commands.errors import ConcurrencyConflict, Forbidden, NotFound
from commands.ports import Checkpoint, DispatchIndex
from domain.base import causation_id_var, message_context
from domain.errors import InvalidTransition
from domain.identity import Actor, Role
from domain.shipping import OPEN_STATUSES, Courier, OffDutyReason, Shipment, ShipmentStatus, nearest_available
from domain.values import DeliveryAddress, GeoPoint

log = logging.getLogger(__name__)

A = TypeVar("A", Courier, Shipment)

NEAREST_CANDIDATES: Final = 5
"""Couriers named per look at the index (loaded one by one until one is free): the nearest free courier is
among them unless the index is behind what an unrecorded decision has taken."""
OLDEST_CANDIDATES: Final = 5
CANDIDATE_ROUNDS: Final = 4
"""Looks at the index before a decision gives up (each passes over the candidates the last one disproved)."""
SWEEP_LIMIT: Final = 100
SWEEP_CAUSATION: Final = "shipping:dispatch-sweep"


class Shipping(ContextApplication):
    name = "Shipping"
    # A courier's and a shipment's streams grow by a route checkpoint every half minute: snapshots keep loading
    # them cheap however long a courier works.
    snapshotting_intervals = {Courier: 100, Shipment: 100}
    snapshotting_projectors = {Courier: fold_events, Shipment: fold_events}

    def __init__(self, env: Mapping[str, str] | None = None, *, observers: Sequence[EventsRecorded] = ()) -> None:
        super().__init__(env, observers=observers)
        self._memory_index: MemoryDispatchIndex | None = None
        self.dispatch_index: DispatchIndex = self._open_dispatch_index()

    def _open_dispatch_index(self) -> DispatchIndex:
        # In production the recorder keeps the index in the events' own transactions (adapters.dispatch_index).
        if isinstance(self.recorder, DispatchIndex):
            return self.recorder
        if isinstance(self.factory, POPOFactory):
            self._memory_index = MemoryDispatchIndex()
            return self._memory_index
        raise TypeError(f"{type(self.recorder).__name__} keeps no dispatch index: Shipping's recorders must "
                        "(see adapters.database.Database.eventsourcing_env)")

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        # Every write of this context, from the API or a saga batch, passes here: the index changes go with it.
        changes = changes_of(processing_event.events)
        if changes:
            processing_event.saved_kwargs[RECORDING_KWARG] = changes
        recordings = super()._record(processing_event)
        if changes and self._memory_index is not None:
            self._memory_index.apply(changes)
        return recordings

    # Commands from the API.

    @retry_on_conflict
    def register_courier(self, name: str, lat: float, lng: float) -> tuple[Courier, int]:
        """A new courier is ready for dispatch and takes the oldest waiting shipment, if any."""
        courier = Courier.register(name, lat, lng)
        return courier, self.save_all(courier, *self._give_waiting_shipment(courier))

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
    def set_shift(self, actor: Actor, courier_id: UUID, on_duty: bool) -> tuple[Courier, int]:
        """On duty: the courier takes the oldest waiting shipment, if any. Off duty: a shipment it has not
        picked up goes to the nearest free courier (or waits); one it carries has to be delivered first."""
        courier = self.get_courier(courier_id, actor)
        if on_duty == courier.on_duty:
            return courier, self.head_position()  # already so: repeating a shift change changes nothing
        if on_duty:
            courier.go_on_duty()
            return courier, self.save_all(courier, *self._give_waiting_shipment(courier))
        changed = self._hand_back(courier, OffDutyReason.SHIFT_ENDED)
        courier.go_off_duty(OffDutyReason.SHIFT_ENDED)
        return courier, self.save_all(courier, *changed)

    @retry_on_conflict
    def pick_up(self, actor: Actor, shipment_id: UUID, lat: float | None = None,
                lng: float | None = None) -> tuple[Shipment, int]:
        """The courier has the goods; where, if it says, else where it was last recorded."""
        shipment = self._own_shipment(actor, shipment_id)
        with _on_behalf_of(shipment):
            if shipment.courier_id is None:
                raise InvalidTransition(f"a shipment that is {shipment.status} cannot be picked up")
            courier = self.load(shipment.courier_id, Courier)
            shipment.pick_up(GeoPoint.of(lat, lng) if lat is not None and lng is not None else courier.position)
            return shipment, self.save_all(shipment)

    @retry_on_conflict
    def reassign_silent(self, courier_id: UUID) -> int:
        """A courier who stopped reporting while holding a shipment not yet picked up: the shipment goes to the
        nearest free courier (or waits), and the silent one goes off duty until it starts a shift again."""
        courier = self.load(courier_id, Courier)
        shipment_id = courier.shipment_id
        if shipment_id is None or self.get_shipment(shipment_id).status is not ShipmentStatus.ASSIGNED:
            return 0
        changed = self._hand_back(courier, OffDutyReason.SILENT)
        courier.go_off_duty(OffDutyReason.SILENT)
        self.save_all(courier, *changed)
        return 1

    def record_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> int:
        """The route at a bounded rate (the position path calls this), in one transaction: on the shipment a
        courier holds, else on the free courier, whose position dispatching goes by. The recorded count."""
        changed: list[Courier | Shipment] = []
        for checkpoint in checkpoints:
            try:
                courier = self.load(checkpoint.courier_id, Courier)
            except NotFound:
                continue
            point = GeoPoint.of(checkpoint.lat, checkpoint.lng)
            shipment = self.get_shipment(courier.shipment_id) if courier.shipment_id else None
            if shipment is not None and shipment.status in (ShipmentStatus.ASSIGNED, ShipmentStatus.IN_TRANSIT):
                with _on_behalf_of(shipment):
                    shipment.record_checkpoint(point, checkpoint.eta.isoformat() if checkpoint.eta else None)
                changed.append(shipment)
            elif shipment is None:
                courier.move_to(point.lat, point.lng)
                changed.append(courier)
        if changed:
            self.save_all(*changed)
        return len(changed)

    def _hand_back(self, courier: Courier, reason: OffDutyReason) -> Changed:
        """The courier's shipment, if it has not picked it up, to the nearest other free courier."""
        if courier.shipment_id is None:
            return []
        shipment = self.get_shipment(courier.shipment_id)
        if shipment.status is not ShipmentStatus.ASSIGNED:
            raise InvalidTransition(f"courier {courier.id} carries shipment {shipment.id}: deliver it first")
        with _on_behalf_of(shipment):
            shipment.unassign(courier, reason)
            other = self._nearest_free_courier(shipment.destination.point, passing_over={courier.id})
            if other is None:
                return [shipment]
            shipment.assign(other)
            return [shipment, other]

    def _own_shipment(self, actor: Actor, shipment_id: UUID) -> Shipment:
        shipment = self.get_shipment(shipment_id)
        if actor.role is Role.COURIER and str(shipment.courier_id) != actor.subject:
            # As the query API answers it: another courier's shipment is indistinguishable from a missing one,
            # so shipment ids (derived from order ids) cannot be probed.
            raise NotFound("shipment", shipment_id)
        return shipment

    @retry_on_conflict
    def mark_delivered(self, actor: Actor, shipment_id: UUID) -> tuple[Shipment, int]:
        shipment = self._own_shipment(actor, shipment_id)
        with _on_behalf_of(shipment):
            shipment.deliver()
            return shipment, self.save_all(shipment)

    # Decisions the saga takes; each returns the aggregates it changed, for the caller to record atomically.

    def ship_order(self, order_id: UUID, customer_id: str, destination: DeliveryAddress) -> Changed:
        """A confirmed order gets a shipment and the nearest free courier, or waits for one.

        A waiting shipment needs nothing besides its own Created event: the index queues it in that transaction.
        """
        if self.find_shipment_for(order_id) is not None:
            return []
        shipment = Shipment(order_id=order_id, customer_id=customer_id, destination=destination)
        courier = self._nearest_free_courier(destination.point)
        if courier is None:
            return [shipment]
        shipment.assign(courier)
        return [shipment, courier]

    def cancel_shipment(self, order_id: UUID) -> Changed:
        """The order was cancelled: its shipment stops, and a courier carrying it is free again."""
        shipment = self.find_shipment_for(order_id)
        if shipment is None or shipment.status not in OPEN_STATUSES:
            return []
        shipment.cancel()
        changed: Changed = [shipment]
        if shipment.courier_id is not None:
            changed.extend(self.free_courier(shipment.courier_id))
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

    def free_courier(self, courier_id: UUID) -> Changed:
        """A busy courier is free again, and takes the oldest waiting shipment at once, if there is one."""
        courier = self.load(courier_id, Courier)
        if courier.is_available:
            return []
        courier.release()
        return [courier, *self._give_waiting_shipment(courier)]

    # The sweeper's work (see `dispatch_waiting`).

    def dispatch_waiting(self, limit: int = SWEEP_LIMIT) -> int:
        """Give waiting shipments, oldest first, their nearest free courier; how many got one.

        Decisions running at once can each miss the other: a courier freed while a shipment is being queued sees
        no waiting shipment, the shipment sees no free courier, and both commit. Calling this every second
        (`logistics worker` does, in one process) bounds how long such a shipment waits beside an idle courier.
        Each hand-over is its own transaction, so a conflict costs one pairing, not the sweep.
        """
        assigned = 0
        for shipment_id in self.dispatch_index.oldest_waiting_shipments(limit):
            try:
                outcome = self._dispatch_one(shipment_id)
            except ConcurrencyConflict:
                log.info("dispatch sweep: shipment %s kept conflicting; the next sweep tries again", shipment_id)
                break
            if outcome is None:
                break  # no courier is free: the rest wait too
            assigned += outcome
        return assigned

    @retry_on_conflict
    def _dispatch_one(self, shipment_id: UUID) -> int | None:
        """1 if the shipment got a courier, 0 if it no longer waits, None if no courier is free."""
        shipment = next(self._each([shipment_id], Shipment), None)
        if shipment is None or shipment.status is not ShipmentStatus.WAITING_FOR_COURIER:
            return 0
        courier = self._nearest_free_courier(shipment.destination.point)
        if courier is None:
            return None
        with message_context(str(shipment.order_id), SWEEP_CAUSATION):
            shipment.assign(courier)
        self.save_all(shipment, courier)
        return 1

    # Candidates: the index's hint, overlaid with what this unit of work has decided and not yet recorded.

    def _nearest_free_courier(self, point: GeoPoint, passing_over: Collection[UUID] = ()) -> Courier | None:
        """The first courier, nearest first, that its aggregate says is free; candidates load one at a time."""
        in_hand = [each for each in self.in_hand() if isinstance(each, Courier)]
        passed = {courier.id for courier in in_hand} | set(passing_over)
        freed_here = [courier for courier in in_hand if courier.is_available and courier.id not in passing_over]
        for _ in range(CANDIDATE_ROUNDS):
            hinted = self.dispatch_index.nearest_available_couriers(point, NEAREST_CANDIDATES, passing_over=passed)
            if freed_here:
                # Freed by this batch, so not free in the index yet: weigh them against the index's nearest.
                chosen = nearest_available([*freed_here, *self._each(hinted, Courier)], point)
            else:
                chosen = next((courier for courier in self._each(hinted, Courier) if courier.is_available), None)
            if chosen is not None or len(hinted) < NEAREST_CANDIDATES:
                return chosen
            passed.update(hinted)
            freed_here = []
        return None

    def _waiting_oldest_first(self) -> Iterator[Shipment]:
        in_hand = [each for each in self.in_hand() if isinstance(each, Shipment)]
        passed = {shipment.id for shipment in in_hand}
        for _ in range(CANDIDATE_ROUNDS):
            hinted = self.dispatch_index.oldest_waiting_shipments(OLDEST_CANDIDATES, passing_over=passed)
            for shipment in self._each(hinted, Shipment):
                if shipment.status is ShipmentStatus.WAITING_FOR_COURIER:
                    yield shipment
            if len(hinted) < OLDEST_CANDIDATES:
                break
            passed.update(hinted)
        # Queued by this unit of work, so younger than anything the index has committed.
        queued_here = [shipment for shipment in in_hand if shipment.status is ShipmentStatus.WAITING_FOR_COURIER]
        yield from sorted(queued_here, key=lambda shipment: shipment.created_on)

    def _give_waiting_shipment(self, courier: Courier) -> Changed:
        shipment = next(self._waiting_oldest_first(), None)
        if shipment is None:
            return []
        # Whatever freed the courier, this hand-over is part of the waiting order's journey.
        with message_context(str(shipment.order_id), causation_id_var.get()):
            shipment.assign(courier)
        return [shipment]

    def _each(self, ids: list[UUID], kind: type[A]) -> Iterator[A]:
        """The aggregates named, loaded as they are asked for (a decision usually needs the first only)."""
        for aggregate_id in ids:
            try:
                yield self.load(aggregate_id, kind)
            except NotFound:
                # The index is a hint: a row it should not have is passed over, not trusted.
                log.warning("dispatch index names %s %s, which the store does not have", kind.__name__, aggregate_id)


def _on_behalf_of(shipment: Shipment | None) -> AbstractContextManager[None]:
    """A shipment's events, and a courier's while carrying it, are correlated with the shipment's order (the
    order's story includes its delivery); the cause stays whatever the caller set (the request)."""
    if shipment is None:
        return nullcontext()
    return message_context(str(shipment.order_id), causation_id_var.get())
