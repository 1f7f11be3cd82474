"""The fulfilment saga: each context reacting to the facts of another, exactly once.

Each step class is its context's application plus a process recorder: what it decides is recorded in the
same transaction as the upstream position it has reached, so a crash or a redelivery never applies a step
twice. A step takes its upstream's events in batches (`process_batch`): it decides each event in order on
aggregates it keeps for the batch (so a later event sees what an earlier one changed), then records every
change with the batch's trackings in one transaction. The runners that feed it are in `adapters.follower_runner`.
"""

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.projection import EventSourcedProjection

from commands.context_application import CONFLICT_ATTEMPTS, Changed, ContextApplication, EventsRecorded
from commands.errors import ConcurrencyConflict, NotFound
from commands.inventory import Inventory
from commands.orders import Orders
from commands.payments import Payments
from commands.ports import PaymentGateway
from commands.shipping import Shipping
from domain.base import event_topic, message_context
from domain.order import Order, OrderStatus
from domain.payment import Payment
from domain.reservation import StockReservation
from domain.shipping import Shipment
from projections.partitions import upstream_of

Reaction = Callable[[Any], Changed]
A = TypeVar("A")

log = logging.getLogger(__name__)


class SagaStep(EventSourcedProjection[UUID], ContextApplication):
    """Dispatches each upstream fact to a reaction, and records what the reaction changed with the tracking."""

    reacts_to: ClassVar[Mapping[str, str]]
    """Upstream topic -> name of the method that reacts to it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "reacts_to" in cls.__dict__:
            cls.topics = tuple(cls.reacts_to)

    def __init__(self, env: Mapping[str, str] | None = None, *, observers: Sequence[EventsRecorded] = ()) -> None:
        # The library's projection passes only `env` along the chain to the context's application.
        super().__init__(env)
        self.observers = tuple(observers)
        # Several runners may share one step (orders follows three logs): each thread has its batch's aggregates.
        self._batches = threading.local()

    def _changed_in_batch(self) -> dict[UUID, Any] | None:
        changed: dict[UUID, Any] | None = getattr(self._batches, "changed", None)
        return changed

    def in_hand(self) -> list[Any]:
        changed = self._changed_in_batch()
        return list(changed.values()) if changed else []

    def exists(self, aggregate_id: UUID) -> bool:
        changed = self._changed_in_batch()
        return (changed is not None and aggregate_id in changed) or super().exists(aggregate_id)

    def load(self, aggregate_id: UUID, kind: type[A], label: str | None = None) -> A:
        changed = self._changed_in_batch()
        if changed is not None and aggregate_id in changed:
            found: object = changed[aggregate_id]
            if not isinstance(found, kind):
                raise NotFound(label or kind.__name__.lower(), aggregate_id)
            return found
        return super().load(aggregate_id, kind, label)

    def process_batch(self, batch: Sequence[tuple[Any, Tracking]], *, upstream: str, fence: object = None,
                      advance: Sequence[Tracking] = (), parking: object = None, tracked: bool = True) -> None:
        """Decide every event of the batch, in order, and record all of it with its trackings, exactly once.

        A conflict (an API request changed an aggregate the batch decided on) decides the whole batch again on
        fresh state; a batch that keeps conflicting is split in halves, each retried the same way, down to
        single events. `fence`, `advance` and `parking` go to the recorder with the events (leases, idle
        partitions, parked events). `tracked=False`: parked events processed again, whose positions were
        recorded when they were parked; only `parking` then keeps them from being applied twice.
        """
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self._decide_and_record(batch, upstream, fence, advance, parking, tracked)
                return
            except IntegrityError:
                if tracked and self._recorded_already(batch):
                    return  # another runner instance recorded it first
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        if len(batch) > 1:
            half = len(batch) // 2
            self.process_batch(batch[:half], upstream=upstream, fence=fence, tracked=tracked)
            self.process_batch(batch[half:], upstream=upstream, fence=fence, advance=advance, parking=parking,
                               tracked=tracked)
            return
        position = batch[0][1].notification_id if batch else "-"
        raise ConcurrencyConflict(f"{self.name}: {upstream} event {position} kept conflicting")

    def _decide_and_record(self, batch: Sequence[tuple[Any, Tracking]], upstream: str, fence: object,
                           advance: Sequence[Tracking], parking: object, tracked: bool) -> None:
        changed: dict[UUID, Any] = {}
        self._batches.changed = changed
        try:
            for domain_event, tracking in batch:
                self._react(domain_event, upstream, tracking.notification_id, changed)
            own = {tracking.application_name: tracking for _, tracking in batch} if tracked else {}
            trackings = [*own.values(), *advance]
            # The first tracking goes the library's way, so that any process recorder records a batch of one
            # partition; more need a recorder that takes them all (`adapters.fenced_recorder`).
            if len(trackings) > 1 and not getattr(self.recorder, "records_trackings", False):
                raise TypeError(f"{type(self.recorder).__name__} cannot record a batch of several partitions")
            processing_event = ProcessingEvent[UUID](tracking=trackings[0] if trackings else None)
            processing_event.collect_events(*changed.values(), trackings=trackings[1:], fence=fence, parking=parking)
            recordings = self._record(processing_event)
        finally:
            self._batches.changed = None
        self._take_snapshots(processing_event)
        self._notify(recordings)

    def _react(self, domain_event: Any, upstream: str, position: int, changed: dict[UUID, Any]) -> None:
        method = self.reacts_to.get(type(domain_event).__module__ + ":" + type(domain_event).__qualname__)
        if method is None:
            return
        # Everything a fact causes is correlated with what the fact was correlated with (its order), and caused
        # by that fact's place in its context's log.
        correlation = getattr(domain_event, "correlation_id", None) or str(domain_event.originator_id)
        with message_context(correlation, f"{upstream}:{position}"):
            reaction: Reaction = getattr(self, method)
            decided = reaction(domain_event)
            # A step that changed something is a line of the order's story (INFO, with its correlation id);
            # the many facts a step looks at and leaves alone would only drown it out.
            log.log(logging.INFO if decided else logging.DEBUG, "%s %s: %s -> %s", self.name, method,
                    type(domain_event).__qualname__,
                    ", ".join(type(aggregate).__name__ for aggregate in decided) or "nothing to do")
        for aggregate in decided:
            changed[aggregate.id] = aggregate

    def _recorded_already(self, batch: Sequence[tuple[Any, Tracking]]) -> bool:
        last = {tracking.application_name: tracking.notification_id for _, tracking in batch}
        return all((self.recorder.max_tracking_id(name) or 0) >= position for name, position in last.items())

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's one-event entry point; ours is `process_batch` (see `process_event`)."""
        method = self.reacts_to.get(type(domain_event).__module__ + ":" + type(domain_event).__qualname__)
        if method is not None:
            reaction: Reaction = getattr(self, method)
            processing_event.collect_events(*reaction(domain_event))

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """One event, recorded with its tracking: a batch of one."""
        self.process_batch([(domain_event, tracking)], upstream=upstream_of(tracking.application_name))


class InventorySagaStep(SagaStep, Inventory):
    """Orders -> inventory: reserve a placed order's lines, release them on cancel, commit them on dispatch."""

    name = "Inventory"
    reacts_to = {
        event_topic(Order, "Placed"): "on_order_placed",
        event_topic(Order, "Cancelled"): "on_order_cancelled",
        event_topic(Order, "InTransit"): "on_order_in_transit",
    }

    def on_order_placed(self, placed: Any) -> Changed:
        return self.reserve_for(placed.originator_id, placed.lines)

    def on_order_cancelled(self, cancelled: Any) -> Changed:
        return self.release_for(cancelled.originator_id)

    def on_order_in_transit(self, in_transit: Any) -> Changed:
        return self.commit_for(in_transit.originator_id)


class PaymentsSagaStep(SagaStep, Payments):
    """Orders -> payments: authorize a placed order's total, void it on cancel, capture it on dispatch."""

    name = "Payments"
    reacts_to = {
        event_topic(Order, "Placed"): "on_order_placed",
        event_topic(Order, "Cancelled"): "on_order_cancelled",
        event_topic(Order, "InTransit"): "on_order_in_transit",
    }

    def __init__(self, env: Mapping[str, str] | None = None, gateway: PaymentGateway | None = None, *,
                 observers: Sequence[EventsRecorded] = ()) -> None:
        super().__init__(env, observers=observers)
        self._gateway = gateway

    def on_order_placed(self, placed: Any) -> Changed:
        return self.request_payment(placed.originator_id, placed.total, placed.payment_token)

    def on_order_cancelled(self, cancelled: Any) -> Changed:
        return self.void_for(cancelled.originator_id)

    def on_order_in_transit(self, in_transit: Any) -> Changed:
        return self.capture_for(in_transit.originator_id)


class ShippingSagaStep(SagaStep, Shipping):
    """Orders -> shipping: ship a confirmed order, stop a cancelled one, free the courier once received."""

    name = "Shipping"
    reacts_to = {
        event_topic(Order, "Confirmed"): "on_order_confirmed",
        event_topic(Order, "Cancelled"): "on_order_cancelled",
        event_topic(Order, "Received"): "on_order_received",
    }

    def on_order_confirmed(self, confirmed: Any) -> Changed:
        return self.ship_order(confirmed.originator_id, confirmed.customer_id, confirmed.delivery)

    def on_order_cancelled(self, cancelled: Any) -> Changed:
        return self.cancel_shipment(cancelled.originator_id)

    def on_order_received(self, received: Any) -> Changed:
        return self.finish_shipment(received.originator_id)


class OrdersSagaStep(SagaStep, Orders):
    """Inventory, payments and shipping -> orders: the order follows what the other contexts report."""

    name = "Orders"
    reacts_to = {
        event_topic(StockReservation, "Held"): "on_stock_held",
        event_topic(StockReservation, "Rejected"): "on_stock_rejected",
        event_topic(Payment, "Authorized"): "on_payment_authorized",
        event_topic(Payment, "Declined"): "on_payment_declined",
        event_topic(Payment, "TimedOut"): "on_payment_timed_out",
        event_topic(Shipment, "PickedUp"): "on_shipment_picked_up",
        event_topic(Shipment, "Delivered"): "on_shipment_delivered",
    }

    def _update(self, order_id: UUID, change: Callable[[Order], None]) -> Changed:
        order = self.get_order(order_id)
        change(order)
        return [order]

    def on_stock_held(self, held: Any) -> Changed:
        return self._update(held.order_id, Order.record_stock_reserved)

    def on_stock_rejected(self, rejected: Any) -> Changed:
        return self._update(rejected.order_id, Order.record_stock_rejected)

    def on_payment_authorized(self, authorized: Any) -> Changed:
        return self._update(authorized.order_id, Order.record_payment_authorized)

    def on_payment_declined(self, declined: Any) -> Changed:
        return self._update(declined.order_id, Order.record_payment_declined)

    def on_payment_timed_out(self, timed_out: Any) -> Changed:
        return self._update(timed_out.order_id, Order.record_payment_timed_out)

    def on_shipment_picked_up(self, picked_up: Any) -> Changed:
        order = self.get_order(picked_up.order_id)
        if order.status is not OrderStatus.CONFIRMED:
            return []  # cancelled meanwhile: shipping cancels the shipment and frees the courier
        order.mark_in_transit(picked_up.originator_id, picked_up.courier_id)
        return [order]

    def on_shipment_delivered(self, delivered: Any) -> Changed:
        order = self.get_order(delivered.order_id)
        if order.status is not OrderStatus.IN_TRANSIT:
            return []
        order.mark_delivered()
        return [order]


# Who follows whom: (upstream application, policy). Orders has three upstreams, so three runners.
SAGA_EDGES: tuple[tuple[type[Any], type[SagaStep]], ...] = (
    (Orders, InventorySagaStep),
    (Orders, PaymentsSagaStep),
    (Orders, ShippingSagaStep),
    (Inventory, OrdersSagaStep),
    (Payments, OrdersSagaStep),
    (Shipping, OrdersSagaStep),
)
