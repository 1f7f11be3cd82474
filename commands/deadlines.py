"""Payment deadlines: a payment the gateway has not answered in time times out, even across restarts.

A projection keeps, exactly once and beside its tracking position, one row per payment still awaiting an
answer; a timer fires the overdue ones through the payments application. Both survive a restart because the
rows are in PostgreSQL, not in memory.
"""

import logging
from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

from commands.payments import Payments
from commands.policies import fact
from domain.base import message_context
from domain.payment import Payment

log = logging.getLogger(__name__)


class PaymentDeadlinesView(TrackingRecorder, ABC):
    @abstractmethod
    def await_answer(self, payment_id: UUID, order_id: UUID, requested_at: datetime, tracking: Tracking) -> None:
        """Remember that this payment waits for the gateway since `requested_at`."""

    @abstractmethod
    def answered(self, payment_id: UUID, tracking: Tracking) -> None:
        """The payment no longer waits (authorized, declined, voided or timed out)."""

    @abstractmethod
    def overdue(self, timeout: timedelta, limit: int = 100) -> list[tuple[UUID, UUID]]:
        """(payment id, order id) of payments waiting for longer than `timeout`, oldest first."""


class PaymentDeadlines(Projection[PaymentDeadlinesView]):
    name = "paymentdeadlines"
    topics = (
        fact(Payment, "Requested"),
        fact(Payment, "Authorized"),
        fact(Payment, "Declined"),
        fact(Payment, "TimedOut"),
        fact(Payment, "Voided"),
    )
    _requested = fact(Payment, "Requested")

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        topic = f"{type(domain_event).__module__}:{type(domain_event).__qualname__}"
        if topic == self._requested:
            self.view.await_answer(domain_event.originator_id, domain_event.order_id, domain_event.timestamp,
                                   tracking)
        else:
            self.view.answered(domain_event.originator_id, tracking)


def fire_overdue(view: PaymentDeadlinesView, payments: Payments, timeout: timedelta) -> int:
    """Time out every overdue payment; returns how many timed out."""
    fired = 0
    for payment_id, order_id in view.overdue(timeout):
        with message_context(str(order_id), f"deadline:payment:{payment_id}"):
            if payments.time_out(payment_id):
                fired += 1
                log.info("payment %s for order %s timed out after %s", payment_id, order_id, timeout)
    return fired
