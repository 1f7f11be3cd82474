"""Shipments with their tracks: for the customer who awaits one, the courier who carries it, and operators."""

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from domain.identity import Actor, Role
from domain.shipping import ShipmentStatus
from queries.errors import NotFound
from queries.shipments import ShipmentQueries
from web.auth import requires
from web.query_api.examples import SHIPMENT_PAGE, SHIPMENT_TRACK
from web.query_api.orders import ActorRequest
from web.query_api.parameters import Cursor, Limit
from web.query_api.schemas import ShipmentPage, ShipmentWithTrack, TrackPoint
from web.strict_input import PLAIN_TEXT


def subject_id(actor: Actor) -> UUID | None:
    """The courier id a courier's token names; a token whose subject is no id names no courier, and sees none."""
    try:
        return UUID(actor.subject)
    except ValueError:
        return None


def may_see_shipment(actor: Actor, shipment: dict[str, Any]) -> bool:
    if actor.role is Role.CUSTOMER:
        return bool(shipment.get("customer_id") == actor.subject)
    if actor.role is Role.COURIER:
        return bool(shipment.get("courier_id") == actor.subject)
    return actor.role is Role.ADMIN


class ShipmentQueriesController(Controller):
    path = "/api/shipments"
    tags = ["shipments"]

    @get("/", operation_id="ListShipments", sync_to_thread=True, guards=[requires(Role.COURIER, Role.ADMIN)],
         responses=SHIPMENT_PAGE, raises=[PermissionDeniedException],
         summary="Shipments in a stable order (a courier's own)")
    def list_shipments(
        self,
        request: ActorRequest,
        shipment_queries: NamedDependency[ShipmentQueries],
        status: Annotated[ShipmentStatus | None, QueryParameter(examples=[Example(value="IN_TRANSIT")])] = None,
        courier_id: Annotated[UUID | None, QueryParameter()] = None,
        customer_id: Annotated[str | None, QueryParameter(max_length=200, pattern=PLAIN_TEXT)] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> ShipmentPage:
        actor = request.user
        if actor.role is Role.COURIER:
            if courier_id is not None and str(courier_id) != actor.subject:
                raise PermissionDeniedException("a courier sees only the shipments it carries")
            courier_id = subject_id(actor)
            if courier_id is None:
                return ShipmentPage(items=[], next_cursor=None)
        page = shipment_queries.list(status=status.value if status else None, courier_id=courier_id,
                                     customer_id=customer_id, cursor=cursor, limit=limit)
        return ShipmentPage(items=page.items, next_cursor=page.next_cursor)

    @get("/{shipment_id:uuid}", operation_id="GetShipment", sync_to_thread=True,
         guards=[requires(Role.CUSTOMER, Role.COURIER, Role.ADMIN)], responses=SHIPMENT_TRACK,
         raises=[NotFoundException], summary="One shipment and its track, every position with its time")
    def get_shipment(
        self, request: ActorRequest, shipment_id: FromPath[UUID], shipment_queries: NamedDependency[ShipmentQueries]
    ) -> ShipmentWithTrack:
        shipment = shipment_queries.get(shipment_id)
        # Someone else's shipment is indistinguishable from a missing one, so ids cannot be probed.
        if shipment is None or not may_see_shipment(request.user, shipment):
            raise NotFound("shipment", shipment_id)
        track = [TrackPoint(point.version, point.at, point.lat, point.lng)
                 for point in shipment_queries.track(shipment_id)]
        return ShipmentWithTrack(shipment=shipment, track=track)
