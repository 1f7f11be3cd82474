"""An order's stock reservation, all lines or none: the one fact the order waits for from inventory."""

from collections.abc import Mapping, Sequence
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.base import EnumState, LogisticsAggregate, stable_id
from domain.errors import InvalidTransition
from domain.stock import Stock, reserve_order
from domain.values import OrderLine


class ReservationStatus(StrEnum):
    REQUESTED = "REQUESTED"
    HELD = "HELD"
    REJECTED = "REJECTED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"


class StockReservation(LogisticsAggregate):
    status = EnumState(ReservationStatus)

    @staticmethod
    def create_id(order_id: UUID) -> UUID:
        return stable_id("reservation", str(order_id))

    @event("Requested")
    def __init__(self, order_id: UUID, lines: list[OrderLine]) -> None:
        self.order_id = order_id
        self.lines = list(lines)
        self.status = ReservationStatus.REQUESTED

    @classmethod
    def reserve(cls, order_id: UUID, lines: Sequence[OrderLine], stocks: Mapping[UUID, Stock]) -> "StockReservation":
        """Reserve every line on its stock, or none, and record which it was."""
        reservation = cls(order_id=order_id, lines=list(lines))
        short = [line.product_id for line in lines
                 if line.product_id not in stocks or not stocks[line.product_id].can_reserve(line.quantity)]
        if reserve_order(stocks, order_id, lines):
            reservation._held(order_id)
        else:
            reservation._rejected(order_id, short)
        return reservation

    @property
    def is_held(self) -> bool:
        return self.status is ReservationStatus.HELD

    def release(self, stocks: Mapping[UUID, Stock]) -> None:
        """Give the reserved units back (the order was cancelled)."""
        self._require_held("be released")
        for line in self.lines:
            stocks[line.product_id].release(self.order_id)
        self._released(self.order_id)

    def commit(self, stocks: Mapping[UUID, Stock]) -> None:
        """The reserved units left with the courier."""
        self._require_held("be committed")
        for line in self.lines:
            stocks[line.product_id].commit(self.order_id)
        self._committed(self.order_id)

    def _require_held(self, action: str) -> None:
        if not self.is_held:
            raise InvalidTransition(f"a reservation that is {self.status} cannot {action}")

    @event("Held")
    def _held(self, order_id: UUID) -> None:
        self.status = ReservationStatus.HELD

    @event("Rejected")
    def _rejected(self, order_id: UUID, short_product_ids: list[UUID]) -> None:
        self.status = ReservationStatus.REJECTED

    @event("Released")
    def _released(self, order_id: UUID) -> None:
        self.status = ReservationStatus.RELEASED

    @event("Committed")
    def _committed(self, order_id: UUID) -> None:
        self.status = ReservationStatus.COMMITTED
