"""OrderService: placing, reading, cancelling and receiving orders, and following an order's status.

Commands make the command API's calls (PlaceOrderHandler, Orders with the caller as Actor) and share its
Idempotency-Key store: a CreateOrder's idempotency_key is the customer's key whichever face it is used on, and
the stored answer is the HTTP API's 202 body. Reads come from the orders read model with the query API's
visibility rule. The status stream is the SSE stream's own follower (web/query_api/push_status.py), fed by this
process's push feed and resumed from the outbox. Who may follow an order is the SSE stream's rule on the read
model's document, or Orders.get_order's answer for an order the read model does not show yet.
"""

import asyncio
import contextlib
import logging
from typing import Final
from uuid import UUID, uuid4

import msgspec
from litestar import Response

from commands.order_placement import PlaceOrderHandler, RequestedItem
from commands.orders import Orders
from domain.identity import Role
from domain.order import MAX_ORDER_LINES
from domain.values import DeliveryAddress
from queries.errors import NotFound
from queries.orders import OrderQueries
from queries.push import OrderSnapshot
from queries.push_hub import SubscriberDropped, topic_of
from web.command_api.idempotency import MAX_KEY_LENGTH, REPLAYED_HEADER, IdempotencyStore, run_once
from web.command_api.orders import order_accepted
from web.command_api.schemas import Delivery, OrderAccepted, OrderItem, PaymentMethod, PlaceOrder
from web.grpc_api.calls import Call, Code, Method, Refusal, ServerStream, Unary, invalid_argument, roles
from web.grpc_api.generated import orders_pb2 as pb
from web.grpc_api.messages import (
    entity_id,
    free_text,
    order_of_doc,
    order_status,
    page_size,
    page_token,
    status_filter,
    status_update,
)
from web.query_api.orders import visible_order
from web.query_api.push_context import PUSH_ROLES, PushContext, may_see
from web.query_api.push_status import order_status_changes

log = logging.getLogger(__name__)

CUSTOMERS = roles(Role.CUSTOMER)
CUSTOMERS_AND_OPERATORS = roles(Role.CUSTOMER, Role.ADMIN)
# As the HTTP API's CancelOrder body.
MAX_REASON_LENGTH: Final = 500
MAX_CUSTOMER_ID_LENGTH: Final = 200
# How long a stream of an order that exists waits for the read model to show it, and how often it looks again
# meanwhile (it is woken by the order's view changes, so this is only in case one went by unseen).
APPEAR_TIMEOUT_S: Final = 30.0
RECHECK_S: Final = 5.0


class OrderRpcs:
    def __init__(self, orders: Orders, place_order: PlaceOrderHandler, idempotency: IdempotencyStore,
                 queries: OrderQueries, push: PushContext) -> None:
        self._orders = orders
        self._place_order = place_order
        self._idempotency = idempotency
        self._queries = queries
        self._push = push

    def methods(self) -> dict[str, Method]:
        return {
            "CreateOrder": Unary(CUSTOMERS, self.create_order),
            "GetOrder": Unary(CUSTOMERS_AND_OPERATORS, self.get_order),
            "ListOrders": Unary(CUSTOMERS_AND_OPERATORS, self.list_orders),
            "CancelOrder": Unary(CUSTOMERS_AND_OPERATORS, self.cancel_order),
            "ConfirmReceipt": Unary(CUSTOMERS, self.confirm_receipt),
            "StreamOrderStatus": ServerStream(PUSH_ROLES, self.stream_order_status),
        }

    async def create_order(self, request: pb.CreateOrderRequest, call: Call) -> pb.CreateOrderResponse:
        customer = call.actor.subject
        if len(request.items) > MAX_ORDER_LINES:
            # Before the catalog is asked about each of them.
            raise invalid_argument("items", f"an order holds at most {MAX_ORDER_LINES} items")
        items = [RequestedItem(entity_id(item.product_id, f"items[{index}].product_id"), item.quantity)
                 for index, item in enumerate(request.items)]
        for name in ("payment", "delivery"):
            if not request.HasField(name):
                raise invalid_argument(name, "is required")
        delivery = DeliveryAddress(request.delivery.address, request.delivery.lat, request.delivery.lng)
        key = request.idempotency_key
        if len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise invalid_argument("idempotency_key", f"must be 1 to {MAX_KEY_LENGTH} printable characters")

        def execute(order_id: UUID) -> Response[bytes]:
            with call.correlated(order_id):
                order, position = self._place_order(customer_id=customer, items=items,
                                                    payment_token=request.payment.token, delivery=delivery,
                                                    order_id=order_id)
                log.info("order %s placed by %s over gRPC: %d items, total %s", order.id, customer,
                         len(order.lines), order.total)
            return order_accepted(order.id, "PENDING", position, created=True)

        def place() -> Response[bytes]:
            if not key:
                return execute(uuid4())
            # The HTTP API's canonical body and scope: the same key and order give the same fingerprint there.
            body = PlaceOrder(items=[OrderItem(item.product_id, item.quantity) for item in items],
                              payment=PaymentMethod(request.payment.token),
                              delivery=Delivery(delivery.address, delivery.lat, delivery.lng))
            return run_once(self._idempotency, f"orders:{customer}", key, msgspec.json.encode(body), execute)

        response = await call.run(place)
        accepted = msgspec.json.decode(response.content, type=OrderAccepted)
        return pb.CreateOrderResponse(order_id=str(accepted.order_id), status=order_status(accepted.status),
                                      position=accepted.position,
                                      replayed=response.headers.get(REPLAYED_HEADER) == "true")

    async def get_order(self, request: pb.GetOrderRequest, call: Call) -> pb.Order:
        order_id = entity_id(request.order_id, "order_id")
        return order_of_doc(await call.run(lambda: visible_order(self._queries, order_id, call.actor)))

    async def list_orders(self, request: pb.ListOrdersRequest, call: Call) -> pb.ListOrdersResponse:
        customer_id = free_text(request.customer_id, "customer_id", MAX_CUSTOMER_ID_LENGTH)
        if call.actor.role is Role.CUSTOMER:
            if customer_id not in (None, call.actor.subject):
                raise Refusal(Code.PERMISSION_DENIED, "a customer sees only their own orders")
            customer_id = call.actor.subject
        status = status_filter(request.status)
        cursor, limit = page_token(request.page_token), page_size(request.page_size)
        page = await call.run(lambda: self._queries.list(customer_id=customer_id, status=status, cursor=cursor,
                                                         limit=limit))
        return pb.ListOrdersResponse(orders=[order_of_doc(doc) for doc in page.items],
                                     next_page_token=page.next_cursor or "")

    async def cancel_order(self, request: pb.CancelOrderRequest, call: Call) -> pb.CancelOrderResponse:
        order_id = entity_id(request.order_id, "order_id")
        note = free_text(request.reason, "reason", MAX_REASON_LENGTH)
        order, position = await call.run(lambda: self._orders.cancel_order(call.actor, order_id, note),
                                         correlation_id=order_id)
        log.info("order %s cancelled by %s over gRPC", order_id, call.actor.subject)
        return pb.CancelOrderResponse(order_id=str(order.id), status=order_status(order.status.value),
                                      position=position)

    async def confirm_receipt(self, request: pb.ConfirmReceiptRequest, call: Call) -> pb.ConfirmReceiptResponse:
        order_id = entity_id(request.order_id, "order_id")
        order, position = await call.run(lambda: self._orders.confirm_receipt(call.actor, order_id),
                                         correlation_id=order_id)
        log.info("order %s received by %s over gRPC", order_id, call.actor.subject)
        return pb.ConfirmReceiptResponse(order_id=str(order.id), status=order_status(order.status.value),
                                         position=position)

    async def stream_order_status(self, request: pb.StreamOrderStatusRequest, call: Call) -> None:
        order_id = entity_id(request.order_id, "order_id")
        after = request.after if request.HasField("after") else None
        if after is not None and after < 0:
            raise invalid_argument("after", "must not be negative")
        snapshot = await call.run(lambda: self._push.queries.order_snapshot(order_id))
        if snapshot is None or snapshot.status is None:
            # Not shown by the read model yet: whether it exists, and is the caller's, is the write side's answer,
            # given at once (someone else's order is NOT_FOUND), and then the read model is waited for.
            await call.run(lambda: self._orders.get_order(order_id, call.actor))
            snapshot = await self._projected(order_id)
        if not may_see(call.actor, snapshot):
            raise NotFound("order", order_id)
        last = after or 0
        changes = order_status_changes(self._push, order_id, snapshot, after, kind="grpc")
        async with contextlib.aclosing(changes):
            try:
                async for change in changes:
                    if change is not None:
                        await call.write(status_update(order_id, change))
                        last = change.outbox_id
            except SubscriberDropped as dropped:
                raise Refusal(Code.UNAVAILABLE, f"{dropped.reason} (resume with after={last})") from None

    async def _projected(self, order_id: UUID) -> OrderSnapshot:
        """The order's view once the projector has shown it: taken from the first view change that carries its
        status (the document and its position, as the snapshot query would read them), looked for again now and
        then in case a change went by unseen; UNAVAILABLE when the read side is so far behind that it does not come.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + APPEAR_TIMEOUT_S
        with self._push.hub.connect() as subscriber:
            subscriber.follow(topic_of("order", order_id))
            while True:
                snapshot = await asyncio.to_thread(self._push.queries.order_snapshot, order_id)
                # A document without a status holds another context's part of an order not projected yet.
                if snapshot is not None and snapshot.status is not None:
                    return snapshot
                recheck = loop.time() + RECHECK_S
                while (remaining := min(deadline, recheck) - loop.time()) > 0:
                    try:
                        change = await asyncio.wait_for(subscriber.get(), remaining)
                    except TimeoutError:
                        break
                    except SubscriberDropped as dropped:
                        raise Refusal(Code.UNAVAILABLE, f"{dropped.reason}") from None
                    if change.data is not None and change.data.get("status") is not None:
                        return OrderSnapshot(doc=dict(change.data), outbox_id=change.outbox_id)
                if loop.time() >= deadline:
                    raise Refusal(Code.UNAVAILABLE, f"order {order_id} is not readable yet (the read models are "
                                                    "behind); retry the call")
