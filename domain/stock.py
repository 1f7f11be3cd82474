"""Stock of one product, which also holds the product's catalog entry.

Invariants: on hand is never negative, and the reserved quantity never exceeds what is on hand.
"""

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LogisticsAggregate, stable_id
from domain.errors import InsufficientStock, InvalidValue, ProductDiscontinued
from domain.values import OrderLine, money, non_blank, quantity

SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def normalise_sku(sku: str) -> str:
    if not isinstance(sku, str) or not SKU_PATTERN.match(sku.strip()):
        raise InvalidValue("sku", "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return sku.strip().upper()


class Stock(LogisticsAggregate):
    @staticmethod
    def create_id(sku: str) -> UUID:
        return stable_id("product", normalise_sku(sku))

    @event("ProductCreated")
    def __init__(self, sku: str, name: str, price: Decimal, initial_stock: int) -> None:
        self.sku = sku
        self.name = name
        self.price = price
        self.initial_stock = initial_stock
        self.on_hand = initial_stock
        # Keyed by the order id as text: aggregate state must survive a JSON snapshot.
        self._reserved_by_order: dict[str, int] = {}
        self.discontinued = False

    @classmethod
    def create(cls, sku: str, name: str, price: Decimal | str, initial_stock: int) -> "Stock":
        return cls(
            sku=normalise_sku(sku),
            name=non_blank(name, "name"),
            price=money(price),
            initial_stock=quantity(initial_stock, "initial_stock", minimum=0),
        )

    def holds(self, order_id: UUID) -> bool:
        """Whether this stock holds units for the order (an open reservation): one lookup."""
        return str(order_id) in self._reserved_by_order

    @property
    def reservations(self) -> dict[UUID, int]:
        """Units held per order (a new dict each time: `holds` answers for one order)."""
        return {UUID(order_id): amount for order_id, amount in self._reserved_by_order.items()}

    @property
    def reserved(self) -> int:
        return sum(self._reserved_by_order.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def can_reserve(self, amount: int) -> bool:
        return not self.discontinued and amount <= self.available

    def update(self, name: str | None = None, price: Decimal | str | None = None) -> None:
        self._require_listed()
        new_name = non_blank(name, "name") if name is not None else None
        new_price = money(price) if price is not None else None
        if (new_name is not None and new_name != self.name) or (new_price is not None and new_price != self.price):
            self._updated(new_name, new_price)

    def discontinue(self) -> None:
        if not self.discontinued:
            self._discontinued()

    def restock(self, amount: int, reason: str) -> None:
        self._require_listed()
        self._restocked(quantity(amount), non_blank(reason, "reason"))

    def reserve(self, order_id: UUID, amount: int) -> None:
        if self.holds(order_id):
            return
        quantity(amount)
        self._require_listed()
        if amount > self.available:
            raise InsufficientStock(f"{self.sku}: {amount} wanted, {self.available} available")
        self._reserved(order_id, amount)

    def reject_reservation(self, order_id: UUID, amount: int) -> None:
        self._reservation_rejected(order_id, amount, max(self.available, 0))

    def release(self, order_id: UUID) -> None:
        if self.holds(order_id):
            self._released(order_id, self._reserved_by_order[str(order_id)])

    def commit(self, order_id: UUID) -> None:
        """The reserved goods leave the warehouse with the courier."""
        if self.holds(order_id):
            self._committed(order_id, self._reserved_by_order[str(order_id)])

    def _require_listed(self) -> None:
        if self.discontinued:
            raise ProductDiscontinued(f"product {self.sku} is discontinued")

    @event("ProductUpdated")
    def _updated(self, name: str | None, price: Decimal | None) -> None:
        if name is not None:
            self.name = name
        if price is not None:
            self.price = price

    @event("ProductDiscontinued")
    def _discontinued(self) -> None:
        self.discontinued = True

    @event("Restocked")
    def _restocked(self, quantity: int, reason: str) -> None:
        self.on_hand += quantity

    @event("Reserved")
    def _reserved(self, order_id: UUID, quantity: int) -> None:
        self._reserved_by_order[str(order_id)] = quantity

    @event("ReservationRejected")
    def _reservation_rejected(self, order_id: UUID, quantity: int, available: int) -> None:
        pass

    @event("Released")
    def _released(self, order_id: UUID, quantity: int) -> None:
        del self._reserved_by_order[str(order_id)]

    @event("Committed")
    def _committed(self, order_id: UUID, quantity: int) -> None:
        del self._reserved_by_order[str(order_id)]
        self.on_hand -= quantity


def reserve_order(stocks: Mapping[UUID, Stock], order_id: UUID, lines: Iterable[OrderLine]) -> bool:
    """Reserve every line of an order, or none: returns whether the order is reserved.

    When one line cannot be had, nothing is reserved and each short line records a rejection.
    """
    wanted = list(lines)
    # A line this order already holds is not short: re-running the reservation must not reject it.
    short = [line for line in wanted if line.product_id not in stocks
             or (not stocks[line.product_id].holds(order_id)
                 and not stocks[line.product_id].can_reserve(line.quantity))]
    if short:
        for line in short:
            if line.product_id in stocks:
                stocks[line.product_id].reject_reservation(order_id, line.quantity)
        return False
    for line in wanted:
        stocks[line.product_id].reserve(order_id, line.quantity)
    return True
