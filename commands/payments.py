"""The payments context: one payment per order, authorized, captured or voided by the saga."""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from uuid import UUID

from commands.context_application import Changed, ContextApplication, EventsRecorded, retry_on_conflict
from commands.errors import NotFound
from commands.ports import Authorization, Decline, PaymentGateway
from domain.payment import Payment, PaymentStatus


class Payments(ContextApplication):
    name = "Payments"

    def __init__(self, env: Mapping[str, str] | None = None, gateway: PaymentGateway | None = None, *,
                 observers: Sequence[EventsRecorded] = ()) -> None:
        super().__init__(env, observers=observers)
        self._gateway = gateway

    @property
    def gateway(self) -> PaymentGateway:
        if self._gateway is None:
            raise RuntimeError(f"{type(self).__name__} was built without a payment gateway")
        return self._gateway

    def get_payment_for(self, order_id: UUID) -> Payment:
        return self.load(Payment.create_id(order_id), Payment, "payment")

    # Decisions the saga takes; each returns the aggregates it changed, for the caller to record atomically.

    def request_payment(self, order_id: UUID, amount: Decimal, token: str) -> Changed:
        """Ask the gateway to authorize a placed order's total; no answer leaves it to the deadline."""
        if self.exists(Payment.create_id(order_id)):
            return []
        payment = Payment(order_id=order_id, amount=amount, token=token)
        answer = self.gateway.authorize(payment.id, token, amount)
        if isinstance(answer, Authorization):
            payment.authorize(answer.authorization_id)
        elif isinstance(answer, Decline):
            payment.decline(answer.reason)
        return [payment]

    def void_for(self, order_id: UUID) -> Changed:
        payment = self._find(order_id)
        if payment is None or payment.status not in (PaymentStatus.AUTHORIZED, PaymentStatus.REQUESTED):
            return []
        payment.void()
        return [payment]

    def capture_for(self, order_id: UUID) -> Changed:
        payment = self._find(order_id)
        if payment is None or payment.status is not PaymentStatus.AUTHORIZED:
            return []
        payment.capture()
        return [payment]

    @retry_on_conflict
    def time_out(self, payment_id: UUID) -> bool:
        """The deadline passed: a payment still unanswered times out. Whether it did."""
        payment = self.load(payment_id, Payment, "payment")
        if not payment.is_awaiting_answer:
            return False
        payment.time_out()
        self.save(payment)
        return True

    def _find(self, order_id: UUID) -> Payment | None:
        try:
            return self.get_payment_for(order_id)
        except NotFound:
            return None
