"""Who may do what over gRPC: every method of every service in web/grpc_api/generated x every identity of
tests/api/authorization.py, the expected status code of each cell written once, in MATRIX.

The methods are read from the generated modules' service descriptors, so a new RPC without a row fails
`test_the_matrix_covers_every_method_exactly`. The face runs in this process (grpc.aio on a thread of its own,
as `logistics run` runs it) over the same world as the HTTP matrix; the calls go through a real channel with the
caller's token in the `authorization` metadata. Allowed is OK (a stream: read to its end, which comes at once for
the final order it follows); refusals are UNAUTHENTICATED, PERMISSION_DENIED, or NOT_FOUND for someone else's.
A refused call writes nothing, and what another customer may read holds nothing of the first customer's.
"""

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import grpc
import pytest
from google.protobuf import message_factory, text_format
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

import web.grpc_api.generated
from tests.api.authorization import (
    ADMIN_ONLY,
    CUSTOMERS,
    CUSTOMERS_OWN_OR_ADMIN,
    ORDER_OWNER,
    ORDER_OWNER_OR_ADMIN,
    PRODUCT_NAME,
    SIGNED_IN_ANY,
    Identity,
    Outcome,
    Rule,
    World,
)
from tests.api.test_authorization_matrix import assert_nothing_leaked
from web.grpc_api.generated import orders_pb2, products_pb2
from web.grpc_api.server import GrpcFace, GrpcThread

Code = grpc.StatusCode
Request = Callable[[World, bool], Message]
"""The request of a cell: the world, and whether the call is expected to succeed (a call that succeeds and
changes what it names gets a fresh thing of its own)."""

CODES: Final = {Outcome.ALLOWED: Code.OK, Outcome.UNAUTHENTICATED: Code.UNAUTHENTICATED,
                Outcome.FORBIDDEN: Code.PERMISSION_DENIED, Outcome.NOT_FOUND: Code.NOT_FOUND}
DELIVERY: Final = orders_pb2.Delivery(address="Jl. Matrix 1, Jakarta", lat=-6.2, lng=106.8)


def declared_methods() -> dict[str, MethodDescriptor]:
    """`/package.Service/Method` -> its descriptor, for every service of every generated module."""
    methods = {}
    for module_info in pkgutil.iter_modules(web.grpc_api.generated.__path__):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"{web.grpc_api.generated.__name__}.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                methods[f"/{service.full_name}/{method.name}"] = method
    return methods


@dataclass(frozen=True)
class Rpc:
    path: str
    rule: Rule
    request: Request


# -- the requests -----------------------------------------------------------------------------------------------


def create_product(world: World, allowed: bool) -> Message:
    return products_pb2.CreateProductRequest(sku=world.new_sku(), name="Matrix tea", price="2.00", initial_stock=1)


def get_product(world: World, allowed: bool) -> Message:
    return products_pb2.GetProductRequest(product_id=world.product)


def update_product(world: World, allowed: bool) -> Message:
    # Its own name again: allowed, it changes nothing.
    return products_pb2.UpdateProductRequest(product_id=world.product, name=PRODUCT_NAME)


def discontinue_product(world: World, allowed: bool) -> Message:
    return products_pb2.DiscontinueProductRequest(product_id=world.rpc_product_to_discontinue)


def restock(world: World, allowed: bool) -> Message:
    return products_pb2.RestockRequest(product_id=world.product, quantity=1, reason="recount")


def create_order(world: World, allowed: bool) -> Message:
    # A declined card: the saga cancels it, so no shipment of it ever takes a courier the other cells count on.
    return orders_pb2.CreateOrderRequest(items=[orders_pb2.OrderItem(product_id=world.product, quantity=1)],
                                         payment=orders_pb2.Payment(token="tok_decline"), delivery=DELIVERY)


def get_order(world: World, allowed: bool) -> Message:
    return orders_pb2.GetOrderRequest(order_id=world.received_order)


def cancel_order(world: World, allowed: bool) -> Message:
    order = world.fresh_pending_order() if allowed else world.pending_order
    return orders_pb2.CancelOrderRequest(order_id=order, reason="changed my mind")


def confirm_receipt(world: World, allowed: bool) -> Message:
    return orders_pb2.ConfirmReceiptRequest(order_id=world.delivered_order() if allowed else world.carried_order)


def stream_order_status(world: World, allowed: bool) -> Message:
    return orders_pb2.StreamOrderStatusRequest(order_id=world.received_order)


# -- the matrix -------------------------------------------------------------------------------------------------

PRODUCTS, ORDERS = "/logistics.v1.ProductService", "/logistics.v1.OrderService"

MATRIX: Final = [
    Rpc(f"{PRODUCTS}/CreateProduct", ADMIN_ONLY, create_product),
    Rpc(f"{PRODUCTS}/GetProduct", SIGNED_IN_ANY, get_product),
    Rpc(f"{PRODUCTS}/ListProducts", SIGNED_IN_ANY, lambda *_: products_pb2.ListProductsRequest()),
    Rpc(f"{PRODUCTS}/UpdateProduct", ADMIN_ONLY, update_product),
    Rpc(f"{PRODUCTS}/DiscontinueProduct", ADMIN_ONLY, discontinue_product),
    Rpc(f"{PRODUCTS}/Restock", ADMIN_ONLY, restock),
    Rpc(f"{ORDERS}/CreateOrder", CUSTOMERS, create_order),
    Rpc(f"{ORDERS}/GetOrder", ORDER_OWNER_OR_ADMIN, get_order),
    Rpc(f"{ORDERS}/ListOrders", CUSTOMERS_OWN_OR_ADMIN, lambda *_: orders_pb2.ListOrdersRequest()),
    Rpc(f"{ORDERS}/CancelOrder", ORDER_OWNER_OR_ADMIN, cancel_order),
    Rpc(f"{ORDERS}/ConfirmReceipt", ORDER_OWNER, confirm_receipt),
    Rpc(f"{ORDERS}/StreamOrderStatus", ORDER_OWNER_OR_ADMIN, stream_order_status),
]


def test_the_matrix_covers_every_method_exactly() -> None:
    paths = [rpc.path for rpc in MATRIX]
    assert len(paths) == len(set(paths)), "a method has two rows"
    declared = set(declared_methods())
    assert declared - set(paths) == set(), "methods without a row in MATRIX"
    assert set(paths) - declared == set(), "rows of methods no service declares"


# -- the cells --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def channel(world: World) -> Iterator[grpc.Channel]:
    server = GrpcThread(GrpcFace(world.platform, world.read), "127.0.0.1", 0)
    port = server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as opened:
            yield opened
    finally:
        server.stop()


def cells() -> list[Any]:
    return [pytest.param(rpc, identity, id=f"{rpc.path.rsplit('/', 1)[-1]} as {identity.value}")
            for rpc in MATRIX for identity in Identity]


def call(channel: grpc.Channel, method: MethodDescriptor, path: str, request: Message,
         metadata: tuple[tuple[str, str], ...]) -> tuple[grpc.StatusCode, list[Message]]:
    """The status the call ended with and what it answered (every message of a stream)."""
    response_class = message_factory.GetMessageClass(method.output_type)
    serialize: Callable[[Message], bytes] = type(request).SerializeToString
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path, request_serializer=serialize,
                                          response_deserializer=response_class.FromString)
            return Code.OK, list(stream(request, metadata=metadata, timeout=30))
        unary = channel.unary_unary(path, request_serializer=serialize, response_deserializer=response_class.FromString)
        return Code.OK, [unary(request, metadata=metadata, timeout=30)]
    except grpc.RpcError as error:
        code = error.code() if isinstance(error, grpc.Call) else Code.UNKNOWN
        return code, []


def metadata_of(world: World, identity: Identity) -> tuple[tuple[str, str], ...]:
    token = world.token(identity)
    return (("authorization", f"Bearer {token}"),) if token else ()


@pytest.mark.parametrize(("rpc", "identity"), cells())
def test_cell(world: World, channel: grpc.Channel, rpc: Rpc, identity: Identity) -> None:
    outcome = rpc.rule(identity)
    request = rpc.request(world, outcome is Outcome.ALLOWED)
    before = world.positions()
    code, answers = call(channel, declared_methods()[rpc.path], rpc.path, request, metadata_of(world, identity))
    assert code == CODES[outcome]
    if outcome is Outcome.ALLOWED:
        assert answers, "an allowed call answered nothing"
        if isinstance(request, orders_pb2.StreamOrderStatusRequest):
            assert answers[-1].order_id == world.received_order  # type: ignore[attr-defined]
    else:
        assert world.positions() == before, "a refused call wrote events"
    assert_nothing_leaked(world, identity, outcome, "\n".join(text_format.MessageToString(answer)
                                                               for answer in answers))

