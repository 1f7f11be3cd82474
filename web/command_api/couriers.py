"""Couriers and shipments: registration by operators, positions and deliveries by the couriers themselves."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.security.jwt import Token

from adapters.tokens import TokenIssuer
from commands.courier_tracking import CourierTracking
from commands.shipping import Shipping
from domain.errors import InvalidValue
from domain.identity import Actor, Role
from domain.positions import PositionReport
from web.auth import requires
from web.command_api.context import actor_of, command_context
from web.command_api.schemas import (
    Accepted,
    Assignment,
    CourierLocation,
    CourierRegistered,
    CourierShift,
    Destination,
    LocationAccepted,
    PickUpPoint,
    RegisterCourier,
    ShiftChanged,
)

ActorRequest = Request[Actor, Token, Any]


class CourierCommands(Controller):
    path = "/api/couriers"
    tags = ["couriers"]

    @post("/", status_code=201, operation_id="RegisterCourier", sync_to_thread=True,
          guards=[requires(Role.ADMIN)],
          summary="Register a courier; the answer carries the courier's own bearer token")
    def register_courier(
        self, request: ActorRequest, data: JSONBody[RegisterCourier], shipping: NamedDependency[Shipping],
        tokens: NamedDependency[TokenIssuer],
    ) -> CourierRegistered:
        with command_context(request):
            courier, position = shipping.register_courier(data.name, data.lat, data.lng)
        return CourierRegistered(id=courier.id, name=courier.name, position=position,
                                 token=tokens.issue(Role.COURIER.value, str(courier.id)))

    @get("/{courier_id:uuid}/assignment", operation_id="GetCourierAssignment", sync_to_thread=True,
         guards=[requires(Role.COURIER, Role.ADMIN)],
         summary="The courier's own work: where it is, and the shipment it carries if any")
    def assignment(
        self, request: ActorRequest, courier_id: FromPath[UUID], shipping: NamedDependency[Shipping]
    ) -> Assignment:
        # A courier's app needs its job to do it; this reads the courier's own aggregate, nothing wider.
        courier = shipping.get_courier(courier_id, actor_of(request))
        answer = Assignment(courier_id=courier.id, status=courier.status.value, lat=courier.position.lat,
                            lng=courier.position.lng, on_duty=courier.on_duty)
        if courier.shipment_id is None:
            return answer
        shipment = shipping.get_shipment(courier.shipment_id)
        destination = shipment.destination
        return msgspec.structs.replace(
            answer, shipment_id=shipment.id, shipment_status=shipment.status.value, order_id=shipment.order_id,
            destination=Destination(destination.address, destination.lat, destination.lng),
        )

    @post("/{courier_id:uuid}/location", status_code=202, operation_id="UpdateCourierLocation",
          guards=[requires(Role.COURIER, Role.ADMIN)],
          summary="Report where a courier is, or where it was since its last report; stored, not yet an event")
    async def update_location(
        self, request: ActorRequest, courier_id: FromPath[UUID], data: JSONBody[CourierLocation],
        tracking: NamedDependency[CourierTracking],
    ) -> LocationAccepted:
        # On the event loop: the report waits for its batch's commit without holding a thread.
        outcome = await tracking.report(actor_of(request), courier_id, reports_of(data, datetime.now(UTC)))
        return LocationAccepted(id=courier_id, accepted=outcome.accepted)

    @post("/{courier_id:uuid}/shift", status_code=202, operation_id="SetCourierShift", sync_to_thread=True,
          guards=[requires(Role.COURIER, Role.ADMIN)],
          summary="Go on or off duty; a shipment not yet picked up goes to another courier")
    def set_shift(
        self, request: ActorRequest, courier_id: FromPath[UUID], data: JSONBody[CourierShift],
        shipping: NamedDependency[Shipping],
    ) -> ShiftChanged:
        with command_context(request):
            courier, position = shipping.set_shift(actor_of(request), courier_id, data.on_duty)
        return ShiftChanged(id=courier.id, on_duty=courier.on_duty, position=position)


class ShipmentCommands(Controller):
    path = "/api/shipments"
    tags = ["shipments"]

    @post("/{shipment_id:uuid}/picked-up", status_code=202, operation_id="MarkShipmentPickedUp",
          sync_to_thread=True, guards=[requires(Role.COURIER, Role.ADMIN)],
          summary="The courier has the goods: the order is in transit")
    def mark_picked_up(
        self, request: ActorRequest, shipment_id: FromPath[UUID], shipping: NamedDependency[Shipping],
        data: JSONBody[PickUpPoint | None] = None,
    ) -> Accepted:
        with command_context(request):
            shipment, position = shipping.pick_up(actor_of(request), shipment_id, data.lat if data else None,
                                                  data.lng if data else None)
        return Accepted(id=shipment.id, position=position)

    @post("/{shipment_id:uuid}/delivered", status_code=202, operation_id="MarkShipmentDelivered",
          sync_to_thread=True, guards=[requires(Role.COURIER, Role.ADMIN)],
          summary="The courier handed the goods over")
    def mark_delivered(
        self, request: ActorRequest, shipment_id: FromPath[UUID], shipping: NamedDependency[Shipping]
    ) -> Accepted:
        with command_context(request):
            shipment, position = shipping.mark_delivered(actor_of(request), shipment_id)
        return Accepted(id=shipment.id, position=position)


def reports_of(data: CourierLocation, now: datetime) -> list[PositionReport]:
    """The body's one form as points: the positions sent, or where the courier is now."""
    if data.positions is not None:
        if data.lat is not None or data.lng is not None:
            raise InvalidValue("positions", "give either lat and lng, or positions, not both")
        return [PositionReport(point.lat, point.lng, point.at) for point in data.positions]
    if data.lat is None or data.lng is None:
        raise InvalidValue("lat" if data.lat is None else "lng", "is required (or give positions)")
    return [PositionReport(data.lat, data.lng, now)]
