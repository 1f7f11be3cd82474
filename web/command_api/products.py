"""Products and stock: the operator's commands."""

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, delete, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.security.jwt import Token

from commands.inventory import Inventory
from domain.identity import Actor, Role
from domain.stock import Stock
from web.auth import requires
from web.command_api.context import command_context
from web.command_api.schemas import CreateProduct, Product, Restock, StockAccepted, UpdateProduct

AdminRequest = Request[Actor, Token, Any]


def product_body(stock: Stock, position: int) -> Product:
    return Product(id=stock.id, sku=stock.sku, name=stock.name, price=stock.price, on_hand=stock.on_hand,
                   reserved=stock.reserved, available=stock.available, discontinued=stock.discontinued,
                   position=position)


class ProductCommands(Controller):
    path = "/api/products"
    tags = ["products"]
    guards = [requires(Role.ADMIN)]

    @post("/", status_code=201, operation_id="CreateProduct", sync_to_thread=True,
          summary="Add a product to the catalog with its initial stock")
    def create_product(
        self, request: AdminRequest, data: JSONBody[CreateProduct], inventory: NamedDependency[Inventory]
    ) -> Product:
        with command_context(request):
            stock, position = inventory.create_product(data.sku, data.name, data.price, data.initial_stock)
        return product_body(stock, position)

    @patch("/{product_id:uuid}", operation_id="UpdateProduct", sync_to_thread=True,
           summary="Rename or reprice a product")
    def update_product(
        self, request: AdminRequest, product_id: FromPath[UUID], data: JSONBody[UpdateProduct],
        inventory: NamedDependency[Inventory],
    ) -> Product:
        name = None if data.name is msgspec.UNSET else data.name
        price = None if data.price is msgspec.UNSET else data.price
        with command_context(request):
            stock, position = inventory.update_product(product_id, name=name, price=price)
        return product_body(stock, position)

    @delete("/{product_id:uuid}", operation_id="DiscontinueProduct", sync_to_thread=True,
            summary="Discontinue a product: it can no longer be ordered, its history stays")
    def discontinue_product(
        self, request: AdminRequest, product_id: FromPath[UUID], inventory: NamedDependency[Inventory]
    ) -> None:
        with command_context(request):
            inventory.discontinue_product(product_id)

    @post("/{product_id:uuid}/restock", status_code=202, operation_id="RestockProduct", sync_to_thread=True,
          summary="Add units to a product's stock")
    def restock(
        self, request: AdminRequest, product_id: FromPath[UUID], data: JSONBody[Restock],
        inventory: NamedDependency[Inventory],
    ) -> StockAccepted:
        with command_context(request):
            stock, position = inventory.restock(product_id, data.quantity, data.reason)
        return StockAccepted(product_id=stock.id, on_hand=stock.on_hand, available=stock.available,
                             position=position)
