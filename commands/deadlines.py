"""Payment deadlines: a payment the gateway has not answered in time times out, even across restarts.

A projection keeps, exactly once and beside its tracking position, one row per payment still awaiting an
answer; a timer fires the overdue ones through the payments application. Both survive a restart because the
rows are in PostgreSQL, not in memory.
"""

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

from commands.payments import Payments
from domain.base import event_topic, message_context
from domain.payment import Payment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadlineChange:
    """A payment starts waiting for the gateway (`requested_at` given) or stops waiting (None)."""

    payment_id: UUID
    order_id: UUID | None = None
    requested_at: datetime | None = None


class PaymentDeadlinesView(TrackingRecorder, ABC):
    @abstractmethod
    def await_answer(self, payment_id: UUID, order_id: UUID, requested_at: datetime, tracking: Tracking) -> None:
        """Remember that this payment waits for the gateway since `requested_at`."""

    @abstractmethod
    def answered(self, payment_id: UUID, tracking: Tracking) -> None:
        """The payment no longer waits (authorized, declined, voided or timed out)."""

    @abstractmethod
    def record(self, changes: Sequence[DeadlineChange], trackings: Sequence[Tracking], fence: object = None,
               parking: object = None) -> None:
        """Apply the changes in order and record the trackings, in one transaction (under `fence`, if any, with
        `parking`'s changes to the parked events)."""

    @abstractmethod
    def overdue(self, timeout: timedelta, limit: int = 100) -> list[tuple[UUID, UUID]]:
        """(payment id, order id) of payments waiting for longer than `timeout`, oldest first."""


class PaymentDeadlines(Projection[PaymentDeadlinesView]):
    name = "paymentdeadlines"
    topics = (
        event_topic(Payment, "Requested"),
        event_topic(Payment, "Authorized"),
        event_topic(Payment, "Declined"),
        event_topic(Payment, "TimedOut"),
        event_topic(Payment, "Voided"),
    )
    _requested = event_topic(Payment, "Requested")

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([(domain_event, tracking)])

    def process_batch(self, batch: Sequence[tuple[Any, Tracking]], fence: object = None,
                      advance: Sequence[Tracking] = (), parking: object = None, tracked: bool = True) -> None:
        """The batch's changes, each partition's last tracking and `advance`, in one transaction (`tracked=False`:
        parked events processed again, their positions recorded when they were parked)."""
        changes = [self._change(domain_event) for domain_event, _ in batch]
        last = {tracking.application_name: tracking for _, tracking in batch} if tracked else {}
        self.view.record(changes, [*last.values(), *advance], fence, parking)

    def _change(self, domain_event: Any) -> DeadlineChange:
        topic = f"{type(domain_event).__module__}:{type(domain_event).__qualname__}"
        if topic == self._requested:
            return DeadlineChange(domain_event.originator_id, domain_event.order_id, domain_event.timestamp)
        return DeadlineChange(domain_event.originator_id)


def fire_overdue(view: PaymentDeadlinesView, payments: Payments, timeout: timedelta,
                 mine: Callable[[UUID], bool] = lambda _: True) -> int:
    """Time out every overdue payment (of those `mine` picks); returns how many timed out."""
    fired = 0
    for payment_id, order_id in view.overdue(timeout):
        if not mine(payment_id):
            continue
        with message_context(str(order_id), f"deadline:payment:{payment_id}"):
            if payments.time_out(payment_id):
                fired += 1
                log.info("payment %s for order %s timed out after %s", payment_id, order_id, timeout)
    return fired
