"""The position path: couriers' reports stored and announced beside the event store, which gets only what
it should keep (a route checkpoint now and then, a silent courier's shipment handed to another).

A report costs no event: `CourierTracking.report` checks it (`domain.positions`), stores the points in the
`PositionStore` and announces the latest through the `PositionPublisher`. The worker's loops then turn what is
stored into events at a bounded rate: `record_due_checkpoints` (the route, for the order's story and the
audit, and a free courier's position for dispatching) and `reassign_silent_couriers`.
"""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.errors import ConcurrencyConflict, Forbidden, NotFound
from commands.ports import (
    Checkpoint,
    CourierPosition,
    CourierRoute,
    HeldShipment,
    PositionPublisher,
    PositionStore,
    PositionWrite,
)
from commands.shipping import Shipping
from domain.base import message_context
from domain.errors import InvalidTransition
from domain.identity import Actor, Role
from domain.positions import MAX_SPEED_KMH, PositionReport, accept, eta
from domain.shipping import Shipment, ShipmentStatus

log = logging.getLogger(__name__)

CARRYING: Final = frozenset({ShipmentStatus.ASSIGNED, ShipmentStatus.IN_TRANSIT})
SHIPMENTS_CACHED: Final = 10_000
"""Shipments whose order and destination are kept in memory (they never change): a day's worth for a fleet."""
CHECKPOINT_BATCH: Final = 500
SILENT_BATCH: Final = 100
CHECKPOINT_CAUSATION: Final = "tracking:checkpointer"
SILENCE_CAUSATION: Final = "tracking:courier-watch"


@dataclass(frozen=True)
class ReportOutcome:
    accepted: int
    """The report's distinct points, all stored (on the track if the courier holds a shipment)."""


class CourierTracking:
    """Couriers' position reports: checked, stored, announced. `shipments` loads a shipment (a miss of the
    cache only: a shipment's order and destination never change)."""

    def __init__(self, store: PositionStore, publisher: PositionPublisher, shipments: Callable[[UUID], Shipment],
                 *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 max_speed_kmh: float = MAX_SPEED_KMH) -> None:
        self._store = store
        self._max_speed_kmh = max_speed_kmh
        self._publisher = publisher
        self._shipments = shipments
        self._clock = clock
        self._cache: OrderedDict[UUID, HeldShipment] = OrderedDict()

    @property
    def store(self) -> PositionStore:
        return self._store

    async def report(self, actor: Actor, courier_id: UUID, reports: Sequence[PositionReport]) -> ReportOutcome:
        """Store a courier's points (the courier itself, or an operator); returns once they are stored."""
        if actor.role is not Role.ADMIN and (actor.role is not Role.COURIER or actor.subject != str(courier_id)):
            raise Forbidden(f"a courier may report as itself only, not as courier {courier_id}")
        route = await self._store.route_of(courier_id)
        if route is None:
            raise NotFound("courier", courier_id)
        accepted = accept(reports, route.latest, self._clock(), max_speed_kmh=self._max_speed_kmh)
        shipment = await self._held_shipment(route)
        latest = accepted.latest
        arrival = eta(latest, shipment.destination, latest.speed_mps) if latest and shipment else None
        # Saved even when nothing is new: the courier is heard from, so it is not silent.
        await self._store.save(PositionWrite(courier_id, accepted.track if shipment else (), latest, shipment,
                                             arrival))
        if latest is not None:
            self._publisher.publish(CourierPosition(
                courier_id=courier_id, shipment_id=shipment.shipment_id if shipment else None,
                order_id=shipment.order_id if shipment else None, lat=latest.lat, lng=latest.lng, at=latest.at,
                eta=arrival, speed_mps=latest.speed_mps))
        return ReportOutcome(accepted=len(accepted.track))

    async def _held_shipment(self, route: CourierRoute) -> HeldShipment | None:
        shipment_id = route.held_shipment_id
        if shipment_id is None:
            return None
        known = self._cache.get(shipment_id)
        if known is None and route.known_shipment is not None and route.known_shipment.shipment_id == shipment_id:
            known = route.known_shipment
        if known is None:
            # Loading blocks (the event store's pool), so it runs beside the event loop; once per shipment.
            known = await asyncio.to_thread(self._look_up, shipment_id)
            if known is None:
                return None
        self._remember(known)
        return known

    def _look_up(self, shipment_id: UUID) -> HeldShipment | None:
        try:
            shipment = self._shipments(shipment_id)
        except NotFound:
            return None
        if shipment.status not in CARRYING:
            return None  # the index is a moment behind a delivery or a cancellation
        destination = shipment.destination
        return HeldShipment(shipment.id, shipment.order_id, destination.point, shipment.status.value)

    def _remember(self, shipment: HeldShipment) -> None:
        self._cache[shipment.shipment_id] = shipment
        self._cache.move_to_end(shipment.shipment_id)
        while len(self._cache) > SHIPMENTS_CACHED:
            self._cache.popitem(last=False)


# The worker's loops.


def record_due_checkpoints(store: PositionStore, shipping: Shipping, interval_s: float,
                           limit: int = CHECKPOINT_BATCH) -> int:
    """Record the route of every courier due a checkpoint (at most one per `interval_s`, only if it moved):
    on the shipment it holds, else on the free courier. The events recorded."""
    recorded = 0
    while True:
        due = store.due_checkpoints(interval_s, limit)
        if not due:
            return recorded
        with message_context(CHECKPOINT_CAUSATION, CHECKPOINT_CAUSATION):
            recorded += _record(shipping, due)
        store.mark_checkpointed(due)
        if len(due) < limit:
            return recorded


def _record(shipping: Shipping, due: Sequence[Checkpoint]) -> int:
    try:
        return shipping.record_checkpoints(due)
    except IntegrityError:
        # One of them changed meanwhile (picked up, delivered): the others need not wait for the next sweep.
        recorded = 0
        for checkpoint in due:
            try:
                recorded += shipping.record_checkpoints([checkpoint])
            except IntegrityError:
                log.info("checkpoint of courier %s conflicted twice; the next sweep records it",
                         checkpoint.courier_id)
        return recorded


def reassign_silent_couriers(store: PositionStore, shipping: Shipping, silence_s: float,
                             limit: int = SILENT_BATCH) -> int:
    """Hand every shipment not yet picked up whose courier has been silent for `silence_s` to another courier
    (or back to the queue); the silent one goes off duty. The shipments handed back."""
    handed_back = 0
    for silent in store.silent_couriers(silence_s, limit):
        try:
            shipment = shipping.get_shipment(silent.shipment_id)
        except NotFound:
            continue
        if shipment.status is ShipmentStatus.IN_TRANSIT:
            store.note_in_transit(silent.courier_id, silent.shipment_id)  # the goods are with it: it has to deliver
            continue
        try:
            with message_context(str(shipment.order_id), SILENCE_CAUSATION):
                handed_back += shipping.reassign_silent(silent.courier_id)
        except (ConcurrencyConflict, NotFound, InvalidTransition):
            log.info("courier %s changed while it was found silent; the next look decides", silent.courier_id)
    return handed_back
