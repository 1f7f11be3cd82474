"""Couriers and shipments: registration by operators, positions and deliveries by the couriers themselves."""

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.security.jwt import Token

from adapters.tokens import TokenIssuer
from commands.ports import Checkpoint
from commands.shipping import Shipping
from domain.identity import Actor, Role
from web.auth import requires
from web.command_api.context import actor_of, command_context
from web.command_api.schemas import (
    Accepted,
    Assignment,
    CourierLocation,
    CourierRegistered,
    CourierShift,
    Destination,
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
          sync_to_thread=True, guards=[requires(Role.COURIER, Role.ADMIN)],
          summary="Report a courier's position; the shipment it carries moves with it")
    def update_location(
        self, request: ActorRequest, courier_id: FromPath[UUID], data: JSONBody[CourierLocation],
        shipping: NamedDependency[Shipping],
    ) -> Accepted:
        shipping.get_courier(courier_id, actor_of(request))
        with command_context(request):
            shipping.record_checkpoints([Checkpoint(courier_id, data.lat, data.lng)])
        return Accepted(id=courier_id, position=shipping.head_position())

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
