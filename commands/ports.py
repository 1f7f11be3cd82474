"""What the write side needs from the outside world, as interfaces the adapters implement."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable
from uuid import UUID

from domain.positions import LatestPosition, PositionReport
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


@dataclass(frozen=True)
class HeldShipment:
    """The shipment a courier holds, as the position path routes a report by it. Only `stage` ever changes,
    and it is as the shipment was when the path looked it up (so it may say ASSIGNED of one picked up since)."""

    shipment_id: UUID
    order_id: UUID
    destination: GeoPoint
    stage: str


@dataclass(frozen=True)
class CourierRoute:
    """What the position store knows of a courier as a report comes in."""

    courier_id: UUID
    latest: LatestPosition | None
    """The newest position stored, None before its first report."""
    held_shipment_id: UUID | None
    """The shipment the dispatch index says the courier holds now."""
    known_shipment: HeldShipment | None = None
    """The shipment stored with the latest position (the same as `held_shipment_id` unless it changed since)."""


@dataclass(frozen=True)
class PositionWrite:
    """What one report stores: its points on the held shipment's track, and the courier's latest position
    (stored only if newer than the one there, whatever another report stored meanwhile)."""

    courier_id: UUID
    track: tuple[PositionReport, ...]
    latest: LatestPosition | None
    shipment: HeldShipment | None
    eta: datetime | None


@dataclass(frozen=True)
class SilentCourier:
    courier_id: UUID
    shipment_id: UUID


@runtime_checkable
class PositionStore(Protocol):
    """The couriers' latest positions and the shipments' tracks, kept beside the event store (not in it).

    The report path's two calls are coroutines: a store may batch many reports into one round trip.
    """

    async def route_of(self, courier_id: UUID) -> CourierRoute | None:
        """What is stored of the courier; None if no such courier is registered."""
        ...

    async def save(self, write: PositionWrite) -> None:
        """Store a report; returns once it is durable."""
        ...

    def due_checkpoints(self, interval_s: float, limit: int) -> list[Checkpoint]:
        """Couriers last checkpointed more than `interval_s` ago (or never) who moved since: their latest."""
        ...

    def mark_checkpointed(self, checkpoints: Sequence[Checkpoint]) -> None:
        """These were recorded in the event store now."""
        ...

    def silent_couriers(self, silence_s: float, limit: int) -> list[SilentCourier]:
        """Couriers holding a shipment who have reported nothing for `silence_s` (counted from when they got
        the shipment if they never reported since). May include some whose shipment is picked up already."""
        ...

    def note_in_transit(self, courier_id: UUID, shipment_id: UUID) -> None:
        """The courier has picked this shipment up: its silence is no reason to take the shipment back."""
        ...

    def forget_tracks_older_than(self, hours: float) -> int:
        """Delete track points older than this; how many went."""
        ...


@dataclass(frozen=True)
class CourierPosition:
    """A courier's new latest position, as it is announced (to maps and order pages; lossy by design)."""

    courier_id: UUID
    shipment_id: UUID | None
    order_id: UUID | None
    lat: float
    lng: float
    at: datetime
    eta: datetime | None
    speed_mps: float | None


@runtime_checkable
class PositionPublisher(Protocol):
    def publish(self, position: CourierPosition) -> None:
        """Announce without waiting: a lost announcement is replaced by the courier's next one."""
        ...
