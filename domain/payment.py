"""A payment for one order: authorized first, captured when the goods leave, voided if the order fails."""

from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.base import EnumState, LogisticsAggregate, stable_id
from domain.errors import InvalidTransition, PaymentAlreadyCaptured


class PaymentStatus(StrEnum):
    REQUESTED = "REQUESTED"
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    TIMED_OUT = "TIMED_OUT"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    REFUNDED = "REFUNDED"


class Payment(LogisticsAggregate):
    status = EnumState(PaymentStatus)

    @staticmethod
    def create_id(order_id: UUID) -> UUID:
        return stable_id("payment", str(order_id))

    @event("Requested")
    def __init__(self, order_id: UUID, amount: Decimal, token: str) -> None:
        self.order_id = order_id
        self.amount = amount
        self.token = token
        self.status = PaymentStatus.REQUESTED
        self.authorization_id: str | None = None

    @property
    def is_awaiting_answer(self) -> bool:
        return self.status is PaymentStatus.REQUESTED

    def authorize(self, authorization_id: str) -> None:
        self._require(PaymentStatus.REQUESTED, "be authorized")
        self._authorized(self.order_id, authorization_id)

    def decline(self, reason: str) -> None:
        self._require(PaymentStatus.REQUESTED, "be declined")
        self._declined(self.order_id, reason)

    def time_out(self) -> None:
        self._require(PaymentStatus.REQUESTED, "time out")
        self._timed_out(self.order_id)

    def capture(self) -> None:
        if self.status is PaymentStatus.CAPTURED:
            raise PaymentAlreadyCaptured(f"payment {self.id} is already captured")
        self._require(PaymentStatus.AUTHORIZED, "be captured")
        self._captured(self.order_id, self.amount)

    def void(self) -> None:
        """Withdraw an authorization, or a request the gateway has not answered yet."""
        if self.status not in (PaymentStatus.AUTHORIZED, PaymentStatus.REQUESTED):
            raise InvalidTransition(f"a payment that is {self.status} cannot be voided")
        self._voided(self.order_id)

    def refund(self) -> None:
        self._require(PaymentStatus.CAPTURED, "be refunded")
        self._refunded(self.order_id, self.amount)

    def _require(self, status: PaymentStatus, action: str) -> None:
        if self.status is not status:
            raise InvalidTransition(f"a payment that is {self.status} cannot {action}")

    @event("Authorized")
    def _authorized(self, order_id: UUID, authorization_id: str) -> None:
        self.status = PaymentStatus.AUTHORIZED
        self.authorization_id = authorization_id

    @event("Declined")
    def _declined(self, order_id: UUID, reason: str) -> None:
        self.status = PaymentStatus.DECLINED

    @event("TimedOut")
    def _timed_out(self, order_id: UUID) -> None:
        self.status = PaymentStatus.TIMED_OUT

    @event("Captured")
    def _captured(self, order_id: UUID, amount: Decimal) -> None:
        self.status = PaymentStatus.CAPTURED

    @event("Voided")
    def _voided(self, order_id: UUID) -> None:
        self.status = PaymentStatus.VOIDED

    @event("Refunded")
    def _refunded(self, order_id: UUID, amount: Decimal) -> None:
        self.status = PaymentStatus.REFUNDED
