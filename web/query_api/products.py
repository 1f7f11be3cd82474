"""The catalog, for anyone signed in: customers choosing, couriers and operators checking stock."""

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from domain.identity import Role
from queries.errors import NotFound
from queries.products import ProductQueries
from web.auth import requires
from web.query_api.examples import PRODUCT_DOC, PRODUCT_PAGE
from web.query_api.parameters import Cursor, Limit
from web.query_api.schemas import ProductPage
from web.strict_input import PLAIN_TEXT


class ProductQueriesController(Controller):
    path = "/api/products"
    tags = ["products"]
    guards = [requires(Role.CUSTOMER, Role.COURIER, Role.ADMIN)]

    @get("/", operation_id="ListProducts", sync_to_thread=True, responses=PRODUCT_PAGE,
         summary="Products by sku, with their stock levels")
    def list_products(
        self,
        product_queries: NamedDependency[ProductQueries],
        discontinued: Annotated[bool | None, QueryParameter(
            description="only products that are (true) or are not (false) discontinued")] = None,
        q: Annotated[str | None, QueryParameter(
            min_length=1, max_length=100, pattern=PLAIN_TEXT, description="a part of the name or sku, any case",
            examples=[Example(value="tea")])] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> ProductPage:
        page = product_queries.list(discontinued=discontinued, q=q, cursor=cursor, limit=limit)
        return ProductPage(items=page.items, next_cursor=page.next_cursor)

    @get("/{product_id:uuid}", operation_id="GetProduct", sync_to_thread=True, responses=PRODUCT_DOC,
         raises=[NotFoundException], summary="One product with its stock levels")
    def get_product(
        self, product_id: FromPath[UUID], product_queries: NamedDependency[ProductQueries]
    ) -> dict[str, Any]:
        product = product_queries.get(product_id)
        if product is None:
            raise NotFound("product", product_id)
        return product
