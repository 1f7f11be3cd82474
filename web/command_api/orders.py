"""Orders: placing, cancelling and confirming receipt, each by the customer who owns the order."""

import logging
from typing import Annotated, Any
from uuid import UUID, uuid4

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.security.jwt import Token

from commands.order_placement import PlaceOrderHandler, RequestedItem
from commands.orders import Orders
from domain.identity import Actor, Role
from domain.values import DeliveryAddress
from web.auth import requires
from web.command_api.context import actor_of, command_context
from web.command_api.idempotency import IDEMPOTENCY_KEY_HEADER, IdempotencyStore, run_once
from web.command_api.schemas import CancelOrder, OrderAccepted, PlaceOrder

ActorRequest = Request[Actor, Token, Any]
log = logging.getLogger(__name__)

# The handlers answer with the bytes an Idempotency-Key replays; the document says what those bytes are.
ORDER_ACCEPTED = {202: ResponseSpec(OrderAccepted, description="Recorded; the saga takes it from here",
                                    generate_examples=False)}


def order_accepted(order_id: UUID, status: str, position: int, *, created: bool = False) -> Response[bytes]:
    """The 202 answer (also what an Idempotency-Key stores: the gRPC face replays it too, see web/grpc_api)."""
    body = msgspec.json.encode(OrderAccepted(order_id=order_id, status=status, position=position))
    headers = {"Location": f"/api/orders/{order_id}"} if created else {}
    return Response(content=body, status_code=202, headers=headers, media_type="application/json")


class OrderCommands(Controller):
    path = "/api/orders"
    tags = ["orders"]

    @post("/", status_code=202, operation_id="PlaceOrder", sync_to_thread=True,
          guards=[requires(Role.CUSTOMER)], responses=ORDER_ACCEPTED,
          summary="Place an order; stock and payment are then handled by the saga")
    def place_order(
        self,
        request: ActorRequest,
        data: JSONBody[PlaceOrder],
        place_order: NamedDependency[PlaceOrderHandler],
        idempotency: NamedDependency[IdempotencyStore],
        idempotency_key: Annotated[str | None, HeaderParameter(name=IDEMPOTENCY_KEY_HEADER)] = None,
    ) -> Response[bytes]:
        customer = actor_of(request).subject

        def execute(order_id: UUID) -> Response[bytes]:
            with command_context(request, correlation_id=order_id):
                order, position = place_order(
                    customer_id=customer,
                    items=[RequestedItem(item.product_id, item.quantity) for item in data.items],
                    payment_token=data.payment.token,
                    delivery=DeliveryAddress(data.delivery.address, data.delivery.lat, data.delivery.lng),
                    order_id=order_id,
                )
                log.info("order %s placed by %s: %d items, total %s", order.id, customer, len(order.lines),
                         order.total)
            return order_accepted(order.id, "PENDING", position, created=True)

        if idempotency_key is None:
            return execute(uuid4())
        return run_once(idempotency, f"orders:{customer}", idempotency_key, msgspec.json.encode(data), execute)

    @post("/{order_id:uuid}/cancel", status_code=202, operation_id="CancelOrder", sync_to_thread=True,
          guards=[requires(Role.CUSTOMER, Role.ADMIN)], responses=ORDER_ACCEPTED,
          summary="Cancel an order before it is in transit")
    def cancel_order(
        self, request: ActorRequest, order_id: FromPath[UUID], orders: NamedDependency[Orders],
        data: JSONBody[CancelOrder | None] = None,
    ) -> Response[bytes]:
        with command_context(request, correlation_id=order_id):
            order, position = orders.cancel_order(actor_of(request), order_id, data.reason if data else None)
            log.info("order %s cancelled by %s", order_id, actor_of(request).subject)
        return order_accepted(order.id, order.status.value, position)

    @post("/{order_id:uuid}/receipt", status_code=202, operation_id="ConfirmReceipt", sync_to_thread=True,
          guards=[requires(Role.CUSTOMER)], responses=ORDER_ACCEPTED, summary="Confirm that a delivered order arrived")
    def confirm_receipt(
        self, request: ActorRequest, order_id: FromPath[UUID], orders: NamedDependency[Orders]
    ) -> Response[bytes]:
        with command_context(request, correlation_id=order_id):
            order, position = orders.confirm_receipt(actor_of(request), order_id)
            log.info("order %s received by %s", order_id, actor_of(request).subject)
        return order_accepted(order.id, order.status.value, position)
