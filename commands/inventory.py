"""The inventory context: the product catalog and each product's stock."""

from decimal import Decimal
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.base import ContextApplication, retry_on_conflict
from commands.errors import AlreadyExists, NotFound
from commands.ports import CatalogEntry
from domain.stock import Stock


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
