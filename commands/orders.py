"""The orders context: placing orders and what customers do to them afterwards."""

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.context_application import ContextApplication, retry_on_conflict
from commands.errors import NotFound
from domain.identity import Actor, Role
from domain.order import CancelReason, Order
from domain.values import DeliveryAddress, OrderLine


class Orders(ContextApplication):
    name = "Orders"

    def place_order(
        self,
        customer_id: str,
        lines: Sequence[OrderLine],
        payment_token: str,
        delivery: DeliveryAddress,
        order_id: UUID | None = None,
    ) -> tuple[Order, int]:
        """Record a new order. A caller that passes its own `order_id` gets the same order on a retry."""
        order = Order.place(customer_id, lines, payment_token, delivery, order_id=order_id)
        try:
            return order, self.save_all(order)
        except IntegrityError:
            if order_id is None:
                raise
            # A retry of a placement that already happened: answer with the order as it is, and a position
            # that is at or after the one its placement was written at.
            return self.get_order(order_id), self.head_position()

    def get_order(self, order_id: UUID, actor: Actor | None = None) -> Order:
        order = self.load(order_id, Order)
        if actor is not None and actor.role is not Role.ADMIN and order.customer_id != actor.subject:
            # Someone else's order is indistinguishable from one that does not exist.
            raise NotFound("order", order_id)
        return order

    @retry_on_conflict
    def cancel_order(self, actor: Actor, order_id: UUID, note: str | None = None) -> tuple[Order, int]:
        order = self.get_order(order_id, actor)
        order.cancel(CancelReason.CUSTOMER_CANCELLED, note)
        return order, self.save_all(order)

    @retry_on_conflict
    def confirm_receipt(self, actor: Actor, order_id: UUID) -> tuple[Order, int]:
        order = self.get_order(order_id, actor)
        order.confirm_receipt()
        return order, self.save_all(order)
