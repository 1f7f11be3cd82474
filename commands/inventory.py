"""The inventory context: the product catalog and each product's stock."""

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.context_application import Changed, ContextApplication, retry_on_conflict
from commands.errors import AlreadyExists, NotFound
from commands.ports import CatalogEntry
from domain.reservation import StockReservation
from domain.stock import Stock
from domain.values import OrderLine


class Inventory(ContextApplication):
    name = "Inventory"
    # Every order adds events to the stocks it touches; snapshots keep a popular product cheap to load.
    snapshotting_intervals = {Stock: 50}


    def create_product(self, sku: str, name: str, price: Decimal | str, initial_stock: int) -> tuple[Stock, int]:
        stock = Stock.create(sku=sku, name=name, price=price, initial_stock=initial_stock)
        try:
            position = self.save_all(stock)
        except IntegrityError:
            raise AlreadyExists("product", stock.sku, stock.id) from None
        return stock, position

    def get_stock(self, product_id: UUID) -> Stock:
        return self.load(product_id, Stock, "product")

    @retry_on_conflict
    def update_product(self, product_id: UUID, name: str | None, price: Decimal | str | None) -> tuple[Stock, int]:
        stock = self.get_stock(product_id)
        stock.update(name=name, price=price)
        return stock, self.save_all(stock)

    @retry_on_conflict
    def discontinue_product(self, product_id: UUID) -> int:
        stock = self.get_stock(product_id)
        stock.discontinue()
        return self.save_all(stock)

    @retry_on_conflict
    def restock(self, product_id: UUID, quantity: int, reason: str) -> tuple[Stock, int]:
        stock = self.get_stock(product_id)
        stock.restock(quantity, reason)
        return stock, self.save_all(stock)

    def entries(self, product_ids: list[UUID]) -> dict[UUID, CatalogEntry]:
        found: dict[UUID, CatalogEntry] = {}
        for product_id in product_ids:
            try:
                stock = self.get_stock(product_id)
            except NotFound:
                continue
            found[product_id] = CatalogEntry(
                product_id=stock.id, sku=stock.sku, name=stock.name, price=stock.price,
                orderable=not stock.discontinued,
            )
        return found

    # Decisions the saga takes; each returns the aggregates it changed, for the caller to record atomically.

    def reserve_for(self, order_id: UUID, lines: list[OrderLine]) -> Changed:
        """Reserve every line of a placed order, or none of them."""
        if self.exists(StockReservation.create_id(order_id)):
            return []
        stocks = self._stocks(lines)
        reservation = StockReservation.reserve(order_id, lines, stocks)
        return [reservation, *stocks.values()]

    def release_for(self, order_id: UUID) -> Changed:
        return self._settle(order_id, StockReservation.release)

    def commit_for(self, order_id: UUID) -> Changed:
        return self._settle(order_id, StockReservation.commit)

    def _settle(self, order_id: UUID, settle: Callable[[StockReservation, dict[UUID, Stock]], None]) -> Changed:
        try:
            reservation = self.load(StockReservation.create_id(order_id), StockReservation, "reservation")
        except NotFound:
            return []
        if not reservation.is_held:
            return []
        stocks = self._stocks(reservation.lines)
        settle(reservation, stocks)
        return [reservation, *stocks.values()]

    def _stocks(self, lines: list[OrderLine]) -> dict[UUID, Stock]:
        stocks = {}
        for line in lines:
            try:
                stocks[line.product_id] = self.get_stock(line.product_id)
            except NotFound:
                continue
        return stocks
