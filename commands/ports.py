"""What the write side needs from the outside world, as interfaces the adapters implement."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable
from uuid import UUID

from domain.values import GeoPoint


@dataclass(frozen=True)
class CatalogEntry:
    product_id: UUID
    sku: str
    name: str
    price: Decimal
    orderable: bool


@runtime_checkable
class Catalog(Protocol):
    def entries(self, product_ids: list[UUID]) -> dict[UUID, CatalogEntry]:
        """The catalog entries of the products that exist; unknown ids are absent."""
        ...


@dataclass(frozen=True)
class Authorization:
    authorization_id: str


@dataclass(frozen=True)
class Decline:
    reason: str


@runtime_checkable
class PaymentGateway(Protocol):
    def accepts(self, token: str) -> bool:
        """Whether the gateway knows this kind of payment token at all."""
        ...

    def authorize(self, payment_id: UUID, token: str, amount: Decimal) -> Authorization | Decline | None:
        """Ask for an authorization; None when the gateway gives no answer (the payment's deadline decides).

        The payment id is the gateway's idempotency key: asking twice for one payment authorizes once.
        """
        ...


@runtime_checkable
class DispatchIndex(Protocol):
    """Candidates for dispatching, as of the last committed write (see `commands.dispatch_index`).

    A hint only: the caller loads the aggregates named and trusts them, not the index.
    """

    def nearest_available_couriers(self, point: GeoPoint, limit: int,
                                   passing_over: Collection[UUID] = ()) -> list[UUID]:
        """Up to `limit` couriers the index has as available, nearest to `point` first."""
        ...

    def oldest_waiting_shipments(self, limit: int, passing_over: Collection[UUID] = ()) -> list[UUID]:
        """Up to `limit` shipments the index has as waiting for a courier, oldest first."""
        ...


@dataclass(frozen=True)
class Checkpoint:
    """Where a courier was, for the event store's record of its route (at a bounded rate, see
    `Shipping.record_checkpoints`); `eta` the arrival the position path estimated then, if it carries a shipment."""

    courier_id: UUID
    lat: float
    lng: float
    eta: datetime | None = None
