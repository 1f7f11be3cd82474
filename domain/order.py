"""An order: what a customer asked for, and where it stands on its way to them."""

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.base import EnumState, LogisticsAggregate, OptionalEnumState
from domain.errors import InvalidTransition, InvalidValue
from domain.values import DeliveryAddress, GeoPoint, OrderLine, non_blank, optional_text, quantity

MAX_ORDER_LINES = 50


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


class CancelReason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_TIMEOUT = "PAYMENT_TIMEOUT"
    CUSTOMER_CANCELLED = "CUSTOMER_CANCELLED"


FINAL_STATUSES = frozenset({OrderStatus.RECEIVED, OrderStatus.CANCELLED})
CANCELLABLE_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.CONFIRMED})


class OrderCannotBeCancelled(InvalidTransition):
    pass


def validate_lines(lines: Sequence[OrderLine]) -> tuple[OrderLine, ...]:
    if not lines:
        raise InvalidValue("items", "an order needs at least one item")
    if len(lines) > MAX_ORDER_LINES:
        raise InvalidValue("items", f"an order holds at most {MAX_ORDER_LINES} items")
    seen: set[UUID] = set()
    for index, line in enumerate(lines):
        quantity(line.quantity, f"items[{index}].quantity")
        if line.product_id in seen:
            raise InvalidValue(f"items[{index}].product_id", "each product may appear once per order")
        seen.add(line.product_id)
    return tuple(lines)


class Order(LogisticsAggregate):
    status = EnumState(OrderStatus)
    cancel_reason = OptionalEnumState(CancelReason)

    @event("Placed")
    def __init__(
        self,
        customer_id: str,
        lines: list[OrderLine],
        total: Decimal,
        payment_token: str,
        delivery: DeliveryAddress,
    ) -> None:
        self.customer_id = customer_id
        self.lines = list(lines)
        self.total = total
        self.payment_token = payment_token
        self.delivery = delivery
        self.status = OrderStatus.PENDING
        self.cancel_reason = None
        self.cancel_note: str | None = None
        self.stock_reserved = False
        self.payment_authorized = False
        self.shipment_id: UUID | None = None
        self.courier_id: UUID | None = None

    @classmethod
    def place(
        cls,
        customer_id: str,
        lines: Sequence[OrderLine],
        payment_token: str,
        delivery: DeliveryAddress,
        order_id: UUID | None = None,
    ) -> "Order":
        checked = validate_lines(lines)
        non_blank(customer_id, "customer_id")
        non_blank(payment_token, "payment.token")
        GeoPoint.of(delivery.lat, delivery.lng, "delivery")
        address = non_blank(delivery.address, "delivery.address", max_length=500)
        total = sum((line.subtotal for line in checked), Decimal("0"))
        return cls._create(
            cls.Placed,  # type: ignore[attr-defined]  # made by @event("Placed"), unseen by the type checker
            id=order_id,
            customer_id=customer_id,
            lines=list(checked),
            total=total,
            payment_token=payment_token,
            delivery=DeliveryAddress(address, float(delivery.lat), float(delivery.lng)),
        )

    # Outcomes of the saga. They are recorded only while the order is pending: an outcome that arrives after
    # the order was cancelled changes nothing here, and the saga compensates for it instead.

    @property
    def is_pending(self) -> bool:
        return self.status is OrderStatus.PENDING

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def record_stock_reserved(self) -> None:
        if self.is_pending and not self.stock_reserved:
            self._stock_reserved()
            self._confirm_when_ready()

    def record_stock_rejected(self) -> None:
        if self.is_pending:
            self._stock_rejected()
            self._cancelled(CancelReason.OUT_OF_STOCK.value, None)

    def record_payment_authorized(self) -> None:
        if self.is_pending and not self.payment_authorized:
            self._payment_authorized()
            self._confirm_when_ready()

    def record_payment_declined(self) -> None:
        if self.is_pending:
            self._payment_declined()
            self._cancelled(CancelReason.PAYMENT_DECLINED.value, None)

    def record_payment_timed_out(self) -> None:
        if self.is_pending and not self.payment_authorized:
            self._cancelled(CancelReason.PAYMENT_TIMEOUT.value, None)

    def _confirm_when_ready(self) -> None:
        if self.stock_reserved and self.payment_authorized:
            self._confirmed(self.customer_id, self.delivery, self.total)

    def cancel(self, reason: CancelReason = CancelReason.CUSTOMER_CANCELLED, note: str | None = None) -> None:
        if self.status not in CANCELLABLE_STATUSES:
            raise OrderCannotBeCancelled(f"an order that is {self.status} can no longer be cancelled")
        self._cancelled(reason.value, optional_text(note, "reason", max_length=500))

    def mark_in_transit(self, shipment_id: UUID, courier_id: UUID) -> None:
        self._require(OrderStatus.CONFIRMED, "go in transit")
        self._in_transit(shipment_id, courier_id)

    def mark_delivered(self) -> None:
        self._require(OrderStatus.IN_TRANSIT, "be delivered")
        self._delivered()

    def confirm_receipt(self) -> None:
        self._require(OrderStatus.DELIVERED, "be received")
        self._received()

    def _require(self, status: OrderStatus, action: str) -> None:
        if self.status is not status:
            raise InvalidTransition(f"an order that is {self.status} cannot {action}; it must be {status}")

    # The facts. Their bodies run when the event is applied, now and on every replay.

    @event("StockReserved")
    def _stock_reserved(self) -> None:
        self.stock_reserved = True

    @event("StockRejected")
    def _stock_rejected(self) -> None:
        pass

    @event("PaymentAuthorized")
    def _payment_authorized(self) -> None:
        self.payment_authorized = True

    @event("PaymentDeclined")
    def _payment_declined(self) -> None:
        pass

    @event("Confirmed")
    def _confirmed(self, customer_id: str, delivery: DeliveryAddress, total: Decimal) -> None:
        # The confirmation carries what shipping needs, so that shipping never reads the orders' store.
        self.status = OrderStatus.CONFIRMED

    @event("Cancelled")
    def _cancelled(self, reason: str, note: str | None) -> None:
        self.status = OrderStatus.CANCELLED
        self.cancel_reason = CancelReason(reason)
        self.cancel_note = note

    @event("InTransit")
    def _in_transit(self, shipment_id: UUID, courier_id: UUID) -> None:
        self.status = OrderStatus.IN_TRANSIT
        self.shipment_id = shipment_id
        self.courier_id = courier_id

    @event("Delivered")
    def _delivered(self) -> None:
        self.status = OrderStatus.DELIVERED

    @event("Received")
    def _received(self) -> None:
        self.status = OrderStatus.RECEIVED
