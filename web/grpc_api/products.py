"""ProductService: the operator's catalog and stock commands, and the catalog for anyone signed in.

The same application service calls as the command API's ProductCommands; reads from the products read model.
"""

from commands.inventory import Inventory
from domain.identity import Role
from queries.errors import NotFound
from queries.products import ProductQueries
from web.grpc_api.calls import Call, Method, Unary, roles
from web.grpc_api.generated import products_pb2 as pb
from web.grpc_api.messages import entity_id, free_text, page_size, page_token, product_of_doc, product_of_stock

OPERATORS = roles(Role.ADMIN)
ANYONE = roles(Role.CUSTOMER, Role.COURIER, Role.ADMIN)
# As the HTTP API's `q`.
MAX_QUERY_LENGTH = 100


class ProductRpcs:
    def __init__(self, inventory: Inventory, queries: ProductQueries) -> None:
        self._inventory = inventory
        self._queries = queries

    def methods(self) -> dict[str, Method]:
        return {
            "CreateProduct": Unary(OPERATORS, self.create_product),
            "GetProduct": Unary(ANYONE, self.get_product),
            "ListProducts": Unary(ANYONE, self.list_products),
            "UpdateProduct": Unary(OPERATORS, self.update_product),
            "DiscontinueProduct": Unary(OPERATORS, self.discontinue_product),
            "Restock": Unary(OPERATORS, self.restock),
        }

    async def create_product(self, request: pb.CreateProductRequest, call: Call) -> pb.CreateProductResponse:
        stock, position = await call.run(lambda: self._inventory.create_product(
            request.sku, request.name, request.price, request.initial_stock))
        return pb.CreateProductResponse(product=product_of_stock(stock), position=position)

    async def get_product(self, request: pb.GetProductRequest, call: Call) -> pb.Product:
        product_id = entity_id(request.product_id, "product_id")
        doc = await call.run(lambda: self._queries.get(product_id))
        if doc is None:
            raise NotFound("product", product_id)
        return product_of_doc(doc)

    async def list_products(self, request: pb.ListProductsRequest, call: Call) -> pb.ListProductsResponse:
        discontinued = request.discontinued if request.HasField("discontinued") else None
        query = free_text(request.query, "query", MAX_QUERY_LENGTH)
        cursor, limit = page_token(request.page_token), page_size(request.page_size)
        page = await call.run(lambda: self._queries.list(discontinued=discontinued, q=query, cursor=cursor,
                                                         limit=limit))
        return pb.ListProductsResponse(products=[product_of_doc(doc) for doc in page.items],
                                       next_page_token=page.next_cursor or "")

    async def update_product(self, request: pb.UpdateProductRequest, call: Call) -> pb.UpdateProductResponse:
        product_id = entity_id(request.product_id, "product_id")
        name = request.name if request.HasField("name") else None
        price = request.price if request.HasField("price") else None
        stock, position = await call.run(lambda: self._inventory.update_product(product_id, name=name, price=price))
        return pb.UpdateProductResponse(product=product_of_stock(stock), position=position)

    async def discontinue_product(self, request: pb.DiscontinueProductRequest,
                                  call: Call) -> pb.DiscontinueProductResponse:
        product_id = entity_id(request.product_id, "product_id")
        position = await call.run(lambda: self._inventory.discontinue_product(product_id))
        return pb.DiscontinueProductResponse(position=position)

    async def restock(self, request: pb.RestockRequest, call: Call) -> pb.RestockResponse:
        product_id = entity_id(request.product_id, "product_id")
        stock, position = await call.run(lambda: self._inventory.restock(product_id, request.quantity, request.reason))
        return pb.RestockResponse(product_id=str(stock.id), on_hand=stock.on_hand, available=stock.available,
                                  position=position)
