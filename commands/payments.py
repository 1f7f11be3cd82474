"""The payments context: one payment per order, authorized, captured or voided by the saga."""

from uuid import UUID

from commands.base import ContextApplication
from domain.payment import Payment


class Payments(ContextApplication):
    name = "Payments"

    def get_payment_for(self, order_id: UUID) -> Payment:
        return self.load(Payment.create_id(order_id), Payment, "payment")
