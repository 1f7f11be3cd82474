"""Placing an order: the customer's items priced from the catalog, checked, and recorded."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from commands.orders import Orders
from commands.ports import Catalog, PaymentGateway
from domain.errors import InvalidValue
from domain.order import Order
from domain.values import DeliveryAddress, OrderLine, money


@dataclass(frozen=True)
class RequestedItem:
    product_id: UUID
    quantity: int


class PlaceOrderHandler:
    def __init__(self, orders: Orders, catalog: Catalog, payment_gateway: PaymentGateway) -> None:
        self._orders = orders
        self._catalog = catalog
        self._payment_gateway = payment_gateway

    def __call__(
        self,
        customer_id: str,
        items: Sequence[RequestedItem],
        payment_token: str,
        delivery: DeliveryAddress,
        order_id: UUID | None = None,
    ) -> tuple[Order, int]:
        # The lines themselves (count, quantities, repeats) are the order's rule, checked once by `Order.place`.
        entries = self._catalog.entries([item.product_id for item in items])
        lines = []
        for index, item in enumerate(items):
            entry = entries.get(item.product_id)
            if entry is None:
                raise InvalidValue(f"items[{index}].product_id", f"no product {item.product_id}")
            if not entry.orderable:
                raise InvalidValue(f"items[{index}].product_id", f"product {entry.sku} is discontinued")
            # A price stored before prices were bounded must not overflow the order's arithmetic.
            price = money(entry.price, f"items[{index}].product_id")
            lines.append(OrderLine(product_id=entry.product_id, quantity=item.quantity, unit_price=price))
        if not self._payment_gateway.accepts(payment_token):
            raise InvalidValue("payment.token", "the payment gateway does not know this token")
        return self._orders.place_order(customer_id, lines, payment_token, delivery, order_id=order_id)
