"""gRPC clients for the end-to-end tests: the stubs with a caller's token, a stream reader, and the outbox's truth.

Everything goes through a real channel to a real `logistics grpc` (or `logistics run`) process, as a client in
another service would call it.
"""

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapters.database import Database
from adapters.tokens import TokenIssuer
from tests.waiting import eventually
from web.grpc_api.generated import orders_pb2, orders_pb2_grpc, products_pb2, products_pb2_grpc

Metadata = tuple[tuple[str, str | bytes], ...]
T = TypeVar("T")

DELIVERY = orders_pb2.Delivery(address="Jl. Kebon Sirih 10", lat=-6.185, lng=106.83)


def status_name(value: int) -> str:
    return orders_pb2.OrderStatus.Name(value).removeprefix("ORDER_STATUS_")  # type: ignore[arg-type]


@dataclass
class GrpcClients:
    channel: grpc.Channel
    tokens: TokenIssuer
    products: products_pb2_grpc.ProductServiceStub = field(init=False)
    orders: orders_pb2_grpc.OrderServiceStub = field(init=False)
    health: health_pb2_grpc.HealthStub = field(init=False)

    def __post_init__(self) -> None:
        self.products = products_pb2_grpc.ProductServiceStub(self.channel)
        self.orders = orders_pb2_grpc.OrderServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def caller(self, role: str, subject: str) -> Metadata:
        return (("authorization", f"Bearer {self.tokens.issue(role, subject)}"),)

    @property
    def admin(self) -> Metadata:
        return self.caller("admin", "ops")

    def serving_status(self, service: str = "") -> int:
        answer: health_pb2.HealthCheckResponse = self.health.Check(health_pb2.HealthCheckRequest(service=service),
                                                                   timeout=5)
        return int(answer.status)

    def create_product(self, sku: str, stock: int = 100_000, price: str = "10.00") -> products_pb2.Product:
        answer: products_pb2.CreateProductResponse = self.products.CreateProduct(
            products_pb2.CreateProductRequest(sku=sku, name=sku.title(), price=price, initial_stock=stock),
            metadata=self.admin, timeout=30)
        return answer.product

    def wait_for_product(self, product_id: str, done: Callable[[products_pb2.Product], bool] = lambda _: True,
                         limit_s: float = 60.0) -> products_pb2.Product:
        """The product from the read model once it satisfies `done` (the projector follows the commands)."""
        request = products_pb2.GetProductRequest(product_id=product_id)
        return read_until(lambda: self.products.GetProduct(request, metadata=self.admin, timeout=10), done, limit_s)

    def place(self, customer: str, product_id: str, *, token: str = "tok_ok", quantity: int = 1,
              key: str = "") -> orders_pb2.CreateOrderResponse:
        answer: orders_pb2.CreateOrderResponse = self.orders.CreateOrder(
            orders_pb2.CreateOrderRequest(items=[orders_pb2.OrderItem(product_id=product_id, quantity=quantity)],
                                          payment=orders_pb2.Payment(token=token), delivery=DELIVERY,
                                          idempotency_key=key),
            metadata=self.caller("customer", customer), timeout=30)
        return answer

    def wait_for_order(self, order_id: str, status: str, limit_s: float = 60.0) -> orders_pb2.Order:
        request = orders_pb2.GetOrderRequest(order_id=order_id)
        return read_until(lambda: self.orders.GetOrder(request, metadata=self.admin, timeout=10),
                          lambda order: status_name(order.status) == status, limit_s)

    def stream(self, order_id: str, caller: Metadata, after: int | None = None) -> "StatusStream":
        request = orders_pb2.StreamOrderStatusRequest(order_id=order_id)
        if after is not None:
            request.after = after
        return StatusStream(self.orders.StreamOrderStatus(request, metadata=caller, timeout=120))


def read_until(read: Callable[[], T], done: Callable[[T], bool], limit_s: float) -> T:
    """Read until `done`, treating NOT_FOUND as "not yet"; the limit only ends a hung test."""
    last: list[object] = [None]

    def read_when_done() -> T | None:
        try:
            value = read()
        except grpc.RpcError as error:
            if error.code() is not grpc.StatusCode.NOT_FOUND:
                raise
            last[0] = error
            return None
        last[0] = value
        return value if done(value) else None

    return eventually(read_when_done, timeout=limit_s, interval=0.1, what="the answer awaited",
                      explain=lambda: f"last read: {last[0]}")


def refusal(action: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    """The status code and message a call was refused with (fails the test if it succeeded)."""
    try:
        result = action()
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    raise AssertionError(f"the call succeeded: {result}")


class StatusStream:
    """Reads one StreamOrderStatus call on a thread until it ends, or until `cancel` hangs up on it."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self.updates: list[orders_pb2.OrderStatusUpdate] = []
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.ended = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="grpc-stream", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for update in self._call:
                with self._changed:
                    self.updates.append(update)
                    self._changed.notify_all()
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            self.code, self.details = error.code(), error.details() or ""
        finally:
            with self._changed:
                self.ended.set()
                self._changed.notify_all()

    @property
    def statuses(self) -> list[str]:
        with self._changed:
            return [status_name(update.status) for update in self.updates]

    @property
    def positions(self) -> list[int]:
        with self._changed:
            return [update.position for update in self.updates]

    def wait_for(self, status: str, limit_s: float = 60.0) -> orders_pb2.OrderStatusUpdate:
        deadline = time.monotonic() + limit_s
        with self._changed:
            while True:
                for update in self.updates:
                    if status_name(update.status) == status:
                        return update
                assert not self.ended.is_set(), f"the stream ended ({self.code} {self.details}) before {status}: " \
                                                f"{[status_name(u.status) for u in self.updates]}"
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{status} not streamed within {limit_s} s: " \
                                      f"{[status_name(u.status) for u in self.updates]}"
                self._changed.wait(remaining)

    def wait_until_ended(self, limit_s: float = 60.0) -> grpc.StatusCode:
        assert self.ended.wait(limit_s), f"the stream did not end within {limit_s} s: {self.statuses}"
        assert self.code is not None
        return self.code

    def cancel(self) -> None:
        self._call.cancel()
        self._thread.join(10)


@contextmanager
def open_channel(target: str) -> Iterator[grpc.Channel]:
    channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        yield channel
    finally:
        channel.close()


def outbox_statuses(database: Database, order_id: str) -> list[tuple[int, str | None]]:
    """The order's view messages as the projector wrote them: (outbox id, status), oldest first."""
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT id, body -> 'data' ->> 'status' FROM read.outbox WHERE aggregate_id = %s "
            "AND routing_key LIKE 'view.order.%%' ORDER BY id", (order_id,)).fetchall()
    return [(int(row[0]), row[1]) for row in rows]


def status_changes(rows: Sequence[tuple[int, str | None]], after: int = 0,
                   known: str | None = None) -> list[tuple[int, str]]:
    """What a stream that knows `known` at position `after` must be sent: each change of status, in order."""
    changes: list[tuple[int, str]] = []
    for outbox_id, status in rows:
        if outbox_id > after and status is not None and status != known:
            changes.append((outbox_id, status))
            known = status
    return changes
