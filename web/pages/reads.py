"""Everything the pages read, in one object: the read models' queries, the event store, and the positions."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.event_store_reader import EventStoreQueries
from adapters.tokens import TokenIssuer
from composition.read_side import ReadSide
from queries.audit import AuditQueries
from queries.couriers import CourierQueries
from queries.dashboard import DashboardQueries
from queries.late_deliveries import LateDeliveries
from queries.live_positions import LivePositions, newer_than
from queries.orders import OrderQueries
from queries.parked import ParkedQueries
from queries.products import ProductQueries
from queries.shipments import ShipmentQueries
from web.pages.status import ProjectionStatus


@dataclass(frozen=True)
class PageReads:
    orders: OrderQueries
    products: ProductQueries
    shipments: ShipmentQueries
    couriers: CourierQueries
    audit: AuditQueries
    dashboard: DashboardQueries
    event_store: EventStoreQueries
    parked: ParkedQueries
    live: LivePositions
    late: LateDeliveries
    status: ProjectionStatus
    tokens: TokenIssuer
    """Only for the demo login, which hands out ready-made identities."""
    secret: str
    demo: bool

    @classmethod
    def of(cls, read: ReadSide) -> "PageReads":
        pool = read.pool
        live = LivePositions(pool)
        return cls(
            orders=OrderQueries(pool),
            products=ProductQueries(pool),
            shipments=ShipmentQueries(pool),
            couriers=CourierQueries(pool),
            audit=AuditQueries(pool),
            dashboard=DashboardQueries(pool),
            event_store=EventStoreQueries(pool),
            parked=ParkedQueries(pool),
            live=live,
            late=LateDeliveries(pool, live),
            status=ProjectionStatus(read.database),
            tokens=TokenIssuer(read.settings.secret),
            secret=read.settings.secret,
            demo=read.settings.demo,
        )

    def all_products(self, *, include_discontinued: bool) -> list[dict[str, Any]]:
        """The whole catalog, page after page: the pages show it on one screen."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.products.list(discontinued=None if include_discontinued else False, cursor=cursor,
                                      limit=200)
            items.extend(page.items)
            if page.next_cursor is None or len(items) >= 1000:
                return items
            cursor = page.next_cursor

    def all_couriers(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.couriers.list(cursor=cursor, limit=200)
            items.extend(page.items)
            if page.next_cursor is None or len(items) >= 1000:
                return items
            cursor = page.next_cursor

    def live_couriers(self, couriers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The couriers with their live positions where the position path has newer ones than the read model (a
        carrying courier's own document keeps where it was last free)."""
        live = self.live.of_couriers()
        if not live:
            return couriers
        placed = []
        for courier in couriers:
            found = live.get(str(courier.get("id")))
            placed.append({**courier, "position": found.as_position()}
                          if found is not None and newer_than(found, courier.get("position")) else courier)
        return placed

    def courier_destinations(self, couriers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Where each busy courier is taking its shipment (address, lat, lng), by courier id."""
        found: dict[str, dict[str, Any]] = {}
        for courier in couriers:
            shipment_id = parse_uuid(str(courier.get("shipment_id") or ""))
            shipment = self.shipments.get(shipment_id) if shipment_id else None
            if shipment and isinstance(shipment.get("destination"), dict):
                found[str(courier.get("id"))] = shipment["destination"]
        return found

    def product_names(self, product_ids: list[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for product_id in product_ids:
            product = self.products.get(UUID(product_id)) if is_uuid(product_id) else None
            if product is not None:
                names[product_id] = str(product.get("name", product.get("sku", product_id)))
        return names


def is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def parse_uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
