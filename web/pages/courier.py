"""The courier's page: where they are and what they carry where, from the couriers and shipments read models.

Read-only: positions and deliveries are posted by the courier's app to the command API.
"""

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from domain.identity import Role
from web.auth import requires
from web.pages.customer import actor_of
from web.pages.errors import PageNotFound
from web.pages.reads import PageReads, parse_uuid
from web.pages.rendering import render
from web.pages.views import assignment_map


class CourierPages(Controller):
    include_in_schema = False
    guards = [requires(Role.COURIER)]

    @get("/courier", sync_to_thread=True)
    def assignment(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Template:
        # A courier token's subject is the courier's id (the registration answer carries it).
        courier_id = parse_uuid(actor_of(request).subject)
        courier = pages.couriers.get(courier_id) if courier_id else None
        if courier is None:
            raise PageNotFound("courier")
        shipment_id = parse_uuid(str(courier.get("shipment_id") or ""))
        shipment = pages.shipments.get(shipment_id) if shipment_id else None
        return render(request, "courier/assignment.html", fragment="courier/_assignment.html",
                      courier=courier, shipment=shipment, map=assignment_map(courier, shipment),
                      display_name=str(courier.get("name") or ""))
