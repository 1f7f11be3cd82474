"""Orders as their customers (their own only) and operators (all of them) see them."""

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, QueryParameter
from litestar.security.jwt import Token

from domain.identity import Actor, Role
from domain.order import OrderStatus
from queries.errors import NotFound
from queries.live_positions import LivePositions
from queries.orders import OrderQueries
from web.auth import requires
from web.query_api.parameters import Cursor, Limit
from web.query_api.schemas import OrderList
from web.strict_input import PLAIN_TEXT

ActorRequest = Request[Actor, Token, Any]


def visible_order(queries: OrderQueries, order_id: UUID, actor: Actor) -> dict[str, Any]:
    """The order if this actor may see it; someone else's order is indistinguishable from a missing one."""
    order = queries.get(order_id)
    if order is None or (actor.role is Role.CUSTOMER and order.get("customer_id") != actor.subject):
        raise NotFound("order", order_id)
    return order


class OrderQueriesController(Controller):
    path = "/api/orders"
    tags = ["orders"]
    guards = [requires(Role.CUSTOMER, Role.ADMIN)]

    @get("/", operation_id="ListOrders", sync_to_thread=True, summary="Orders, newest first (a customer's own)")
    def list_orders(
        self,
        request: ActorRequest,
        order_queries: NamedDependency[OrderQueries],
        status: Annotated[OrderStatus | None, QueryParameter(description="only orders in this status")] = None,
        customer_id: Annotated[str | None, QueryParameter(
            max_length=200, pattern=PLAIN_TEXT, description="only this customer's orders (admins)")] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> OrderList:
        actor = request.user
        if actor.role is Role.CUSTOMER:
            if customer_id not in (None, actor.subject):
                raise PermissionDeniedException("a customer sees only their own orders")
            customer_id = actor.subject
        page = order_queries.list(customer_id=customer_id, status=status, cursor=cursor, limit=limit)
        return OrderList(items=page.items, next_cursor=page.next_cursor)

    @get("/{order_id:uuid}", operation_id="GetOrder", sync_to_thread=True,
         summary="One order with its timeline, payment, shipment, courier and last position",
         description="`shipment.position` and `shipment.eta` are the courier's live ones while it carries the order "
                     "(newer than the read model's last checkpoint); `promised_by` is the delivery promised.")
    def get_order(
        self, request: ActorRequest, order_id: FromPath[UUID], order_queries: NamedDependency[OrderQueries],
        live_positions: NamedDependency[LivePositions],
    ) -> dict[str, Any]:
        return live_positions.overlay_order(visible_order(order_queries, order_id, request.user))
