"""The customer's pages: the catalog with the order form, their orders, and one order followed live.

The forms post JSON straight to the command API (`/api/orders`, `/api/orders/{id}/cancel`, `.../receipt`);
these handlers only read. An order of someone else is a 404 page, exactly like one that does not exist.
"""

from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from domain.identity import Actor, Role
from queries.pagination import MAX_LIMIT
from web.auth import requires
from web.pages.errors import PageNotFound
from web.pages.reads import PageReads, parse_uuid
from web.pages.rendering import render
from web.pages.views import delivery_draft, order_view

PAYMENT_TOKENS = (
    ("tok_ok", "Card that pays"),
    ("tok_decline", "Card that is declined"),
    ("tok_timeout", "Card whose bank never answers"),
)


def actor_of(request: HTMXRequest) -> Actor:
    actor = request.user
    if not isinstance(actor, Actor):  # the auth middleware sets one on every non-public page
        raise TypeError("request has no authenticated actor")
    return actor


def visible_order(pages: PageReads, order_id: str, actor: Actor) -> dict[str, Any]:
    """The order if this actor may see it; someone else's looks exactly like a missing one."""
    parsed = parse_uuid(order_id)
    order = pages.orders.get(parsed) if parsed else None
    if order is None or (actor.role is Role.CUSTOMER and order.get("customer_id") != actor.subject):
        raise PageNotFound("order")
    return order


class CustomerPages(Controller):
    include_in_schema = False
    guards = [requires(Role.CUSTOMER)]

    @get("/shop", sync_to_thread=True)
    def shop(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Template:
        return render(request, "customer/shop.html", fragment="customer/_products.html",
                      products=pages.all_products(include_discontinued=False), draft=delivery_draft(),
                      payment_tokens=PAYMENT_TOKENS)


class OrderTrackingPages(Controller):
    """One order (its customer follows it live; operators open it from the board), and the list of orders."""

    include_in_schema = False
    guards = [requires(Role.CUSTOMER, Role.ADMIN)]

    @get("/orders/{order_id:str}", sync_to_thread=True)
    def order(self, request: HTMXRequest, order_id: FromPath[str], pages: NamedDependency[PageReads]) -> Template:
        order = pages.live.overlay_order(visible_order(pages, order_id, actor_of(request)))
        return render(request, "customer/order.html", fragment="customer/_order_live.html",
                      view=order_view(pages, order))

    @get("/orders", sync_to_thread=True)
    def my_orders(
        self, request: HTMXRequest, pages: NamedDependency[PageReads],
        status: Annotated[str | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 20,
    ) -> Template | Redirect:
        actor = actor_of(request)
        if actor.role is Role.ADMIN:
            # An operator's list of orders is the board: every customer's, with its filters.
            return Redirect("/ops", status_code=HTTP_303_SEE_OTHER)
        page = pages.orders.list(customer_id=actor.subject, status=status or None, cursor=cursor or None,
                                 limit=limit)
        return render(request, "customer/orders.html", fragment="customer/_order_rows.html",
                      orders=page.items, next_cursor=page.next_cursor, status=status or "", cursor=cursor or "")
