"""The operator's pages: the live orders board, products and stock, couriers on a map, the deliveries running
late, projection status, and the events the followers parked.

Changes go to the command API from the browser (JSON forms); these handlers read, and each page's live part
is a fragment that htmx re-fetches on a timer or when the page is told something changed.
"""

import logging
from typing import Annotated

import psycopg
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from domain.identity import Role
from domain.order import OrderStatus
from queries.pagination import MAX_LIMIT
from queries.parked import UNRESOLVED, ParkedStatus
from web.auth import requires
from web.pages.reads import PageReads
from web.pages.rendering import render
from web.pages.views import LagSummary, courier_tone, couriers_map, natural_key, rate_chart

log = logging.getLogger(__name__)

ORDER_STATUSES = tuple(status.value for status in OrderStatus)


class OperatorPages(Controller):
    path = "/ops"
    include_in_schema = False
    guards = [requires(Role.ADMIN)]

    @get("/", sync_to_thread=True)
    def board(
        self, request: HTMXRequest, pages: NamedDependency[PageReads],
        status: Annotated[str | None, QueryParameter()] = None,
        customer: Annotated[str | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter()] = None,
        trail: Annotated[str | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
    ) -> Template:
        status = status if status in ORDER_STATUSES else None
        page = pages.orders.list(status=status, customer_id=customer or None, cursor=cursor or None,
                                 limit=limit)
        # The cursors are one-way (older); the pages before this one ride along, so "newer" can go back.
        earlier = (trail or "").split()
        return render(request, "operator/board.html", fragment="operator/_board_rows.html",
                      orders=page.items, next_cursor=page.next_cursor, status=status or "",
                      customer=customer or "", statuses=ORDER_STATUSES, cursor=cursor or "", limit=limit,
                      trail_forward=" ".join([*earlier, cursor or "-"]),
                      trail_back={"cursor": earlier[-1] if earlier and earlier[-1] != "-" else "",
                                  "trail": " ".join(earlier[:-1])})

    @get("/dashboard", sync_to_thread=True)
    def dashboard(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Template:
        figures = pages.dashboard.figures()
        try:
            lag: LagSummary | None = LagSummary.of(pages.status.get())
        except psycopg.OperationalError as error:
            log.warning("projection status unavailable: %s", error)
            lag = None
        return render(request, "operator/dashboard.html", fragment="operator/_dashboard.html",
                      figures=figures, lag=lag, rate_chart=rate_chart(figures.orders_per_minute))

    @get("/products", sync_to_thread=True)
    def products(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Template:
        return render(request, "operator/products.html", fragment="operator/_products_table.html",
                      products=pages.all_products(include_discontinued=True))

    @get("/couriers", sync_to_thread=True)
    def couriers(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Template:
        couriers = sorted(pages.live_couriers(pages.all_couriers()),
                          key=lambda courier: natural_key(str(courier.get("name", ""))))
        destinations = pages.courier_destinations(couriers)
        tones = [courier_tone(courier) for courier in couriers]
        return render(request, "operator/couriers.html", fragment="operator/_couriers.html",
                      couriers=couriers, map=couriers_map(couriers, destinations), destinations=destinations,
                      busy=tones.count("busy"), free=tones.count("free"), off_duty=tones.count("off"))

    @get("/late", sync_to_thread=True)
    def late(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Template:
        return render(request, "operator/late.html", fragment="operator/_late_rows.html",
                      late=pages.late.list(limit=MAX_LIMIT))

    @get("/status", sync_to_thread=True)
    def status(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Template:
        try:
            status = pages.status.get()
        except psycopg.OperationalError as error:
            # The database refusing connections is what this page exists to show, not a reason to fail it.
            log.warning("projection status unavailable: %s", error)
            return render(request, "operator/status.html", fragment="operator/_status.html", status=None,
                          unavailable=str(error).strip(), status_code=503)
        return render(request, "operator/status.html", fragment="operator/_status.html", status=status)

    @get("/parked", sync_to_thread=True)
    def parked(self, request: HTMXRequest, pages: NamedDependency[PageReads],
               resolved: Annotated[bool, QueryParameter()] = False) -> Template:
        statuses = tuple(ParkedStatus) if resolved else UNRESOLVED
        return render(request, "operator/parked.html", fragment="operator/_parked_rows.html",
                      parked=pages.parked.listed(statuses=statuses), resolved=resolved)
