"""Couriers: operators see all of them, a courier only itself."""

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from domain.identity import Role
from domain.shipping import CourierStatus
from queries.couriers import CourierQueries
from queries.errors import NotFound
from web.auth import requires
from web.query_api.examples import COURIER_DOC, COURIER_PAGE
from web.query_api.orders import ActorRequest
from web.query_api.parameters import Cursor, Limit
from web.query_api.schemas import CourierPage
from web.query_api.shipments import subject_id


class CourierQueriesController(Controller):
    path = "/api/couriers"
    tags = ["couriers"]
    guards = [requires(Role.COURIER, Role.ADMIN)]

    @get("/", operation_id="ListCouriers", sync_to_thread=True, responses=COURIER_PAGE,
         summary="Couriers by name (a courier: itself only)")
    def list_couriers(
        self,
        request: ActorRequest,
        courier_queries: NamedDependency[CourierQueries],
        status: Annotated[CourierStatus | None, QueryParameter(examples=[Example(value="AVAILABLE")])] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> CourierPage:
        actor = request.user
        only = None
        if actor.role is Role.COURIER:
            only = subject_id(actor)
            if only is None:
                return CourierPage(items=[], next_cursor=None)
        page = courier_queries.list(status=status.value if status else None, courier_id=only, cursor=cursor,
                                    limit=limit)
        return CourierPage(items=page.items, next_cursor=page.next_cursor)

    @get("/{courier_id:uuid}", operation_id="GetCourier", sync_to_thread=True, responses=COURIER_DOC,
         raises=[NotFoundException, PermissionDeniedException],
         summary="One courier: where it is, whether it is free, what it carries")
    def get_courier(
        self, request: ActorRequest, courier_id: FromPath[UUID], courier_queries: NamedDependency[CourierQueries]
    ) -> dict[str, Any]:
        actor = request.user
        # Refused before the lookup, whatever the id: a courier learns nothing about the others, not even whether
        # they exist. The command API answers a courier acting as another courier the same way.
        if actor.role is Role.COURIER and actor.subject != str(courier_id):
            raise PermissionDeniedException("a courier may see itself only")
        courier = courier_queries.get(courier_id)
        if courier is None:
            raise NotFound("courier", courier_id)
        return courier
