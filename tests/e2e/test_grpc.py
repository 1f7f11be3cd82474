"""The gRPC face end to end: a real client against `logistics grpc` on real PostgreSQL and RabbitMQ.

Beside the gRPC process run the command API (couriers register and deliver over HTTP, and one test shares an
Idempotency-Key across both faces), the worker and the projector with its relay, each a process of its own, on a
private RabbitMQ exchange. They are started once for the module; the tests that must change the database's or the
server's state (database down, stopping, the all-in-one run) start processes of their own.

Orders left CONFIRMED would wait for a courier, and the courier the lifecycle test registers would take the
oldest of them: every test cancels what it places, and the lifecycle test checks that no other order waits.
"""

import asyncio
import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import grpc
import grpc.aio
import httpx
import msgspec
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from adapters.database import Database, drop_database
from adapters.platform_status import platform_status
from adapters.tokens import TokenIssuer
from scripts.processes import RunningProcess, background_process, free_ports, grpc_process, logistics_process
from tests.conftest import fresh_database
from tests.e2e.grpc_clients import (
    DELIVERY,
    GrpcClients,
    Metadata,
    open_channel,
    outbox_statuses,
    refusal,
    status_changes,
    status_name,
)
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually
from web.command_api.idempotency import request_fingerprint
from web.command_api.schemas import Delivery, OrderItem, PaymentMethod, PlaceOrder
from web.grpc_api.generated import orders_pb2, orders_pb2_grpc, products_pb2

pytestmark = pytest.mark.e2e

SECRET = "grpc-e2e-secret-that-is-long-enough-for-hs256"
EVERY_STATUS = ["PENDING", "CONFIRMED", "IN_TRANSIT", "DELIVERED", "RECEIVED"]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
Code = grpc.StatusCode


@dataclass
class GrpcStack:
    database: Database
    env: dict[str, str]
    log_dir: Path
    server: RunningProcess
    http: httpx.Client
    clients: GrpcClients

    def bearer(self, role: str, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.clients.tokens.issue(role, subject)}"}

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(f"{self.server.base_url}/metrics", timeout=10, trust_env=False).text
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}

    def open_grpc_streams(self) -> float:
        return self.metrics().get(("logistics_push_connections", (("kind", "grpc"),)), 0.0)


def platform_env(database: Database, log_dir: Path, **extra: str) -> dict[str, str]:
    return {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
            "LOGISTICS_DATA_DIR": str(log_dir / "data"), "LOGISTICS_ENV_FILE": str(log_dir / "none"),
            # Small pools: four processes share one PostgreSQL with whatever else runs beside this test.
            "LOGISTICS_DB_POOL_SIZE": "1", "LOGISTICS_DB_MAX_OVERFLOW": "3", **extra}


@pytest.fixture(scope="module")
def stack(pg_server: Database, amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcStack]:
    database = fresh_database(pg_server)
    rabbit = RabbitEnv(amqp_url)
    log_dir = tmp_path_factory.mktemp("grpc")
    env = platform_env(database, log_dir, LOGISTICS_AMQP_URL=rabbit.url, LOGISTICS_AMQP_EXCHANGE=rabbit.exchange)
    try:
        with ExitStack() as processes:
            server = processes.enter_context(grpc_process(env, log_dir))
            api = processes.enter_context(logistics_process(["command-api"], env, log_dir))
            processes.enter_context(background_process(["worker"], env, log_dir))
            processes.enter_context(background_process(["projector"], env, log_dir))
            channel = processes.enter_context(open_channel(server.grpc_target))
            http = processes.enter_context(httpx.Client(base_url=api.base_url, timeout=30, trust_env=False))
            yield GrpcStack(database, env, log_dir, server, http, GrpcClients(channel, TokenIssuer(SECRET)))
    finally:
        drop_database(pg_server, database.dbname)
        rabbit.cleanup()


@pytest.fixture(scope="module")
def product(stack: GrpcStack) -> products_pb2.Product:
    """A product every order test may order (plenty of stock), already in the read model."""
    created = stack.clients.create_product(f"ANY-{uuid4().hex[:8]}")
    return stack.clients.wait_for_product(created.id)


def cancel_quietly(stack: GrpcStack, order_id: str) -> None:
    """Cancel an order a test leaves behind, unless it is final already."""
    try:
        stack.clients.orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=order_id),
                                         metadata=stack.clients.admin, timeout=30)
    except grpc.RpcError as error:
        if error.code() is not Code.FAILED_PRECONDITION:
            raise


# ---- serving ---------------------------------------------------------------------------------------------------

def test_health_reflection_and_metrics_are_served(stack: GrpcStack) -> None:
    clients = stack.clients
    for service in ("", "logistics.v1.ProductService", "logistics.v1.OrderService"):
        assert clients.serving_status(service) == SERVING
    assert refusal(lambda: clients.serving_status("logistics.v1.NoSuchService"))[0] is Code.NOT_FOUND

    reflection = reflection_pb2_grpc.ServerReflectionStub(clients.channel)
    answers = list(reflection.ServerReflectionInfo(iter([
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="logistics.v1.OrderService"),
    ]), timeout=10))
    services = {service.name for service in answers[0].list_services_response.service}
    assert {"logistics.v1.ProductService", "logistics.v1.OrderService", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= services
    files = [descriptor_pb2.FileDescriptorProto.FromString(blob)
             for blob in answers[1].file_descriptor_response.file_descriptor_proto]
    orders_file = next(file for file in files if file.name == "logistics/v1/orders.proto")
    methods = {method.name: method for method in orders_file.service[0].method}
    assert methods["StreamOrderStatus"].server_streaming
    assert set(methods) == {"CreateOrder", "GetOrder", "ListOrders", "CancelOrder", "ConfirmReceipt",
                            "StreamOrderStatus"}

    before = stack.metrics()
    key = ("logistics_grpc_server_handled_total", (("grpc_code", "INVALID_ARGUMENT"), ("grpc_method", "GetProduct"),
                                                    ("grpc_service", "logistics.v1.ProductService"),
                                                    ("grpc_type", "unary")))
    refusal(lambda: clients.products.GetProduct(products_pb2.GetProductRequest(product_id="nope"),
                                                metadata=clients.admin, timeout=10))
    assert stack.metrics()[key] == before.get(key, 0) + 1
    assert ("logistics_grpc_server_handling_seconds_count",
            (("grpc_method", "GetProduct"), ("grpc_service", "logistics.v1.ProductService"),
             ("grpc_type", "unary"))) in stack.metrics()
    ready = httpx.get(f"{stack.server.base_url}/health/ready", timeout=10, trust_env=False)
    assert ready.status_code == 200, ready.text


def test_only_a_valid_bearer_token_of_the_right_role_gets_in(stack: GrpcStack) -> None:
    clients = stack.clients
    listing = products_pb2.ListProductsRequest()
    token = clients.tokens.issue("customer", "alice")
    for scheme in ("Bearer", "bearer", "BEARER"):
        clients.products.ListProducts(listing, metadata=(("authorization", f"{scheme} {token}"),), timeout=10)
    forged = TokenIssuer("not-the-platform-secret-but-long-enough").issue("admin", "ops")
    refused: list[Metadata] = [(), (("authorization", f"Basic {token}"),), (("authorization", token),),
                               (("authorization", f"Bearer {forged}"),),
                               (("authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}"))]
    for metadata in refused:
        code, message = refusal(partial(clients.products.ListProducts, listing, metadata=metadata, timeout=10))
        assert code is Code.UNAUTHENTICATED, (metadata, message)
    courier = clients.caller("courier", str(uuid4()))
    create = products_pb2.CreateProductRequest(sku="NOPE-1", name="Nope", price="1.00")
    assert refusal(lambda: clients.products.CreateProduct(create, metadata=clients.caller("customer", "alice"),
                                                          timeout=10)) == \
        (Code.PERMISSION_DENIED, "this needs the admin role")
    order = orders_pb2.CreateOrderRequest(items=[orders_pb2.OrderItem(product_id=str(uuid4()), quantity=1)],
                                          payment=orders_pb2.Payment(token="tok_ok"), delivery=DELIVERY)
    assert refusal(lambda: clients.orders.CreateOrder(order, metadata=courier, timeout=10))[0] is \
        Code.PERMISSION_DENIED
    assert refusal(lambda: clients.orders.CreateOrder(order, metadata=clients.admin, timeout=10))[0] is \
        Code.PERMISSION_DENIED
    stream = clients.stream(str(uuid4()), courier)
    assert stream.wait_until_ended() is Code.PERMISSION_DENIED


# ---- products --------------------------------------------------------------------------------------------------

def test_product_commands_and_reads(stack: GrpcStack) -> None:
    clients, admin = stack.clients, stack.clients.admin
    products = clients.products
    prefix = f"P{uuid4().hex[:6].upper()}"
    created = products.CreateProduct(products_pb2.CreateProductRequest(
        sku=f"{prefix}-tea", name="Teh Botol", price="4.50", initial_stock=20), metadata=admin, timeout=30)
    assert (created.product.sku, created.product.name, created.product.price) == (f"{prefix}-TEA", "Teh Botol", "4.50")
    assert (created.product.on_hand, created.product.available, created.product.version) == (20, 20, 1)
    assert created.position > 0
    second = clients.create_product(f"{prefix}-kopi", stock=5)
    code, message = refusal(lambda: products.CreateProduct(products_pb2.CreateProductRequest(
        sku=f"{prefix}-TEA", name="Again", price="1.00"), metadata=admin, timeout=10))
    assert code is Code.ALREADY_EXISTS
    assert f"{prefix}-TEA already exists (id {created.product.id})" in message

    shown = clients.wait_for_product(created.product.id)
    assert (shown.sku, shown.name, shown.price, shown.on_hand, shown.discontinued) == \
        (f"{prefix}-TEA", "Teh Botol", "4.50", 20, False)
    assert shown.created_at.ToDatetime() == created.product.created_at.ToDatetime()
    clients.wait_for_product(second.id)
    customer = clients.caller("customer", "alice")
    first_page = products.ListProducts(products_pb2.ListProductsRequest(query=prefix.lower(), page_size=1),
                                       metadata=customer, timeout=10)
    assert [product.sku for product in first_page.products] == [f"{prefix}-KOPI"]
    assert first_page.next_page_token
    last_page = products.ListProducts(products_pb2.ListProductsRequest(
        query=prefix, page_size=1, page_token=first_page.next_page_token), metadata=customer, timeout=10)
    assert [product.sku for product in last_page.products] == [f"{prefix}-TEA"]
    assert last_page.next_page_token == ""

    renamed = products.UpdateProduct(products_pb2.UpdateProductRequest(product_id=created.product.id, name="Teh"),
                                     metadata=admin, timeout=10)
    assert (renamed.product.name, renamed.product.price) == ("Teh", "4.50")
    repriced = products.UpdateProduct(products_pb2.UpdateProductRequest(product_id=created.product.id,
                                                                        price="5.00"), metadata=admin, timeout=10)
    assert (repriced.product.name, repriced.product.price, repriced.position > renamed.position) == \
        ("Teh", "5.00", True)
    restocked = products.Restock(products_pb2.RestockRequest(product_id=created.product.id, quantity=7,
                                                             reason="delivery from the roaster"),
                                 metadata=admin, timeout=10)
    assert (restocked.on_hand, restocked.available) == (27, 27)
    assert clients.wait_for_product(created.product.id, lambda product: product.on_hand == 27).name == "Teh"

    discontinue = products_pb2.DiscontinueProductRequest(product_id=created.product.id)
    assert products.DiscontinueProduct(discontinue, metadata=admin, timeout=10).position > restocked.position
    products.DiscontinueProduct(discontinue, metadata=admin, timeout=10)  # idempotent
    refused: list[Callable[[], object]] = [
        lambda: products.Restock(products_pb2.RestockRequest(product_id=created.product.id, quantity=1, reason="more"),
                                 metadata=admin, timeout=10),
        lambda: products.UpdateProduct(products_pb2.UpdateProductRequest(product_id=created.product.id, name="Later"),
                                       metadata=admin, timeout=10),
    ]
    for action in refused:
        assert refusal(action) == (Code.FAILED_PRECONDITION, f"product {prefix}-TEA is discontinued")
    code, message = refusal(lambda: clients.place("alice", created.product.id))
    assert (code, message) == (Code.INVALID_ARGUMENT, f"items[0].product_id: product {prefix}-TEA is discontinued")
    clients.wait_for_product(created.product.id, lambda product: product.discontinued)
    listed = products.ListProducts(products_pb2.ListProductsRequest(query=prefix, discontinued=False),
                                   metadata=customer, timeout=10)
    assert [product.sku for product in listed.products] == [f"{prefix}-KOPI"]

    unknown = str(uuid4())
    missing: list[Callable[[], object]] = [
        lambda: products.GetProduct(products_pb2.GetProductRequest(product_id=unknown), metadata=customer, timeout=10),
        lambda: products.UpdateProduct(products_pb2.UpdateProductRequest(product_id=unknown, name="X"),
                                       metadata=admin, timeout=10),
        lambda: products.Restock(products_pb2.RestockRequest(product_id=unknown, quantity=1, reason="x"),
                                 metadata=admin, timeout=10),
        lambda: products.DiscontinueProduct(products_pb2.DiscontinueProductRequest(product_id=unknown),
                                            metadata=admin, timeout=10),
    ]
    for action in missing:
        assert refusal(action) == (Code.NOT_FOUND, f"product {unknown} not found")


# ---- bad input -------------------------------------------------------------------------------------------------

ANY_ID = "0b7b5c1e-6f67-4c36-9d3e-9a1b2c3d4e5f"
# Stands for the `product` fixture's id in the requests below (an id's length, so the wire format stays valid).
THE_PRODUCT = "11111111-2222-3333-4444-555555555555"


def order_request(**changes: Any) -> orders_pb2.CreateOrderRequest:
    fields: dict[str, Any] = {"items": [orders_pb2.OrderItem(product_id=THE_PRODUCT, quantity=1)],
                              "payment": orders_pb2.Payment(token="tok_ok"), "delivery": DELIVERY}
    fields.update(changes)
    return orders_pb2.CreateOrderRequest(**{name: value for name, value in fields.items() if value is not None})


def item(quantity: int = 1, product_id: str = THE_PRODUCT) -> orders_pb2.OrderItem:
    return orders_pb2.OrderItem(product_id=product_id, quantity=quantity)


def delivery(address: str = "Jl. Jaksa 5", lat: float = -6.186, lng: float = 106.83) -> orders_pb2.Delivery:
    return orders_pb2.Delivery(address=address, lat=lat, lng=lng)


BAD_INPUT: list[tuple[str, str, Message, str]] = [
    # (service method, caller role, request, the field the refusal names)
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="", name="X", price="1.00"), "sku"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="BAD\x00SKU", name="X", price="1.00"), "sku"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-1", name="", price="1.00"), "name"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-1", name="X" * 201, price="1.00"), "name"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-1", name="X", price="abc"), "price"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-1", name="X", price="1.234"), "price"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-1", name="X", price="-5"), "price"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-1", name="X", price="1.00",
                                                                 initial_stock=-1), "initial_stock"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-1", name="X", price="1.00",
                                                                 initial_stock=2**62), "initial_stock"),
    ("GetProduct", "customer", products_pb2.GetProductRequest(product_id=""), "product_id"),
    ("GetProduct", "customer", products_pb2.GetProductRequest(product_id="42; DROP TABLE"), "product_id"),
    ("ListProducts", "customer", products_pb2.ListProductsRequest(page_size=-1), "page_size"),
    ("ListProducts", "customer", products_pb2.ListProductsRequest(page_token="not-a-token!"), "page_token"),
    ("ListProducts", "customer", products_pb2.ListProductsRequest(query="tea\x00"), "query"),
    ("ListProducts", "customer", products_pb2.ListProductsRequest(query="t" * 101), "query"),
    ("UpdateProduct", "admin", products_pb2.UpdateProductRequest(product_id="x", name="Y"), "product_id"),
    ("UpdateProduct", "admin", products_pb2.UpdateProductRequest(product_id=THE_PRODUCT, price="0"), "price"),
    ("UpdateProduct", "admin", products_pb2.UpdateProductRequest(product_id=THE_PRODUCT, name="  "), "name"),
    ("DiscontinueProduct", "admin", products_pb2.DiscontinueProductRequest(product_id="{}"), "product_id"),
    ("Restock", "admin", products_pb2.RestockRequest(product_id=THE_PRODUCT, quantity=0, reason="x"), "quantity"),
    ("Restock", "admin", products_pb2.RestockRequest(product_id=THE_PRODUCT, quantity=10**15, reason="x"),
     "quantity"),
    ("Restock", "admin", products_pb2.RestockRequest(product_id=THE_PRODUCT, quantity=1, reason=""), "reason"),
    ("CreateOrder", "customer", order_request(items=[]), "items"),
    ("CreateOrder", "customer", order_request(items=[item(product_id=str(uuid4())) for _ in range(51)]), "items"),
    ("CreateOrder", "customer", order_request(items=[item(product_id="")]), "items[0].product_id"),
    ("CreateOrder", "customer", order_request(items=[item(), item(product_id="nope")]), "items[1].product_id"),
    ("CreateOrder", "customer", order_request(items=[item(product_id=ANY_ID)]), "items[0].product_id"),
    ("CreateOrder", "customer", order_request(items=[item(), item()]), "items[1].product_id"),
    ("CreateOrder", "customer", order_request(items=[item(quantity=0)]), "items[0].quantity"),
    ("CreateOrder", "customer", order_request(items=[item(quantity=-3)]), "items[0].quantity"),
    ("CreateOrder", "customer", order_request(items=[item(quantity=2**63 - 1)]), "items[0].quantity"),
    ("CreateOrder", "customer", order_request(payment=None), "payment"),
    ("CreateOrder", "customer", order_request(payment=orders_pb2.Payment(token="")), "payment.token"),
    ("CreateOrder", "customer", order_request(payment=orders_pb2.Payment(token="tok_ok\x00")), "payment.token"),
    ("CreateOrder", "customer", order_request(delivery=None), "delivery"),
    ("CreateOrder", "customer", order_request(delivery=delivery(address="")), "delivery.address"),
    ("CreateOrder", "customer", order_request(delivery=delivery(address="a" * 501)), "delivery.address"),
    ("CreateOrder", "customer", order_request(delivery=delivery(lat=91)), "delivery.lat"),
    ("CreateOrder", "customer", order_request(delivery=delivery(lat=math.nan)), "delivery.lat"),
    ("CreateOrder", "customer", order_request(delivery=delivery(lng=math.inf)), "delivery.lng"),
    ("CreateOrder", "customer", order_request(delivery=delivery(lng=-1e308)), "delivery.lng"),
    ("CreateOrder", "customer", order_request(idempotency_key="line\nbreak"), "idempotency_key"),
    ("CreateOrder", "customer", order_request(idempotency_key="k" * 256), "idempotency_key"),
    ("GetOrder", "customer", orders_pb2.GetOrderRequest(order_id=""), "order_id"),
    ("GetOrder", "customer", orders_pb2.GetOrderRequest(order_id="123"), "order_id"),
    ("ListOrders", "admin", orders_pb2.ListOrdersRequest(status=99), "status"),  # type: ignore[arg-type]
    ("ListOrders", "admin", orders_pb2.ListOrdersRequest(customer_id="bell\x07"), "customer_id"),
    ("ListOrders", "admin", orders_pb2.ListOrdersRequest(page_size=-5), "page_size"),
    ("ListOrders", "admin", orders_pb2.ListOrdersRequest(page_token="eyJub3QiOiAiYSBsaXN0In0"), "page_token"),
    ("CancelOrder", "customer", orders_pb2.CancelOrderRequest(order_id="not-an-id"), "order_id"),
    ("CancelOrder", "customer", orders_pb2.CancelOrderRequest(order_id=ANY_ID, reason="\x1b[31mred"), "reason"),
    ("CancelOrder", "customer", orders_pb2.CancelOrderRequest(order_id=ANY_ID, reason="r" * 501), "reason"),
    ("ConfirmReceipt", "customer", orders_pb2.ConfirmReceiptRequest(order_id="zzz"), "order_id"),
    ("StreamOrderStatus", "customer", orders_pb2.StreamOrderStatusRequest(order_id="zzz"), "order_id"),
    ("StreamOrderStatus", "customer", orders_pb2.StreamOrderStatusRequest(order_id=ANY_ID, after=-1), "after"),
    # Control characters in text the domain checks: refused by the same rules as over HTTP.
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-2", name="Kopi\x00", price="1.00"), "name"),
    ("UpdateProduct", "admin", products_pb2.UpdateProductRequest(product_id=THE_PRODUCT, name="Te\x1bh"), "name"),
    ("Restock", "admin", products_pb2.RestockRequest(product_id=THE_PRODUCT, quantity=1, reason="a\x00"), "reason"),
    ("CreateOrder", "customer", order_request(delivery=delivery(address="Jl. Jaksa \x00 5")), "delivery.address"),
    ("CreateProduct", "admin", products_pb2.CreateProductRequest(sku="OK-3", name="X", price="1E+999999"), "price"),
]


def with_product(request: Message, product_id: str) -> Message:
    """The request with THE_PRODUCT in its ids replaced by a real product's id."""
    text = request.SerializeToString().replace(THE_PRODUCT.encode(), product_id.encode())
    return type(request).FromString(text)


@pytest.mark.parametrize(("method", "role", "request_message", "field"), BAD_INPUT,
                         ids=[f"{method}-{field}-{index}" for index, (method, _, _, field) in enumerate(BAD_INPUT)])
def test_bad_input_is_an_invalid_argument_naming_the_field(stack: GrpcStack, product: products_pb2.Product,
                                                           method: str, role: str, request_message: Message,
                                                           field: str) -> None:
    clients = stack.clients
    stub = clients.products if request_message.DESCRIPTOR.file.name.endswith("products.proto") else clients.orders
    call = getattr(stub, method)
    request = with_product(request_message, product.id)
    metadata = clients.caller(role, "ops" if role == "admin" else "mallory")
    if isinstance(request, orders_pb2.StreamOrderStatusRequest):
        stream = clients.stream(request.order_id, metadata, request.after if request.HasField("after") else None)
        code, message = stream.wait_until_ended(), stream.details
    else:
        code, message = refusal(lambda: call(request, metadata=metadata, timeout=30))
    assert code is Code.INVALID_ARGUMENT, message
    assert message.startswith(f"{field}: "), message
    assert len(message) < 300
    assert not re.search(r"[\x00-\x1f]", message), "the message echoes control characters"


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"\x0a\x03\xff\xfe\xfd", b"\x12\x80"])
def test_bytes_that_are_no_request_are_an_invalid_argument(stack: GrpcStack, payload: bytes) -> None:
    raw: grpc.UnaryUnaryMultiCallable[bytes, bytes] = stack.clients.channel.unary_unary(
        "/logistics.v1.OrderService/CreateOrder")
    code, message = refusal(lambda: raw(payload, metadata=stack.clients.caller("customer", "mallory"), timeout=10))
    assert code is Code.INVALID_ARGUMENT
    assert message.startswith("request: not a valid logistics.v1.CreateOrderRequest"), message


# ---- orders ----------------------------------------------------------------------------------------------------

def test_order_commands_reads_and_refusals(stack: GrpcStack, product: products_pb2.Product) -> None:
    clients = stack.clients
    orders = clients.orders
    bob, carol = f"bob-{uuid4().hex[:6]}", f"carol-{uuid4().hex[:6]}"
    as_bob, as_carol = clients.caller("customer", bob), clients.caller("customer", carol)
    first = clients.place(bob, product.id, quantity=2)
    assert (status_name(first.status), first.position > 0, first.replayed) == ("PENDING", True, False)
    declined = clients.place(bob, product.id, token="tok_decline")

    shown = clients.wait_for_order(first.order_id, "CONFIRMED")
    assert (shown.customer_id, shown.total, len(shown.items), shown.items[0].quantity) == (bob, "20.00", 1, 2)
    assert (shown.items[0].product_id, shown.items[0].unit_price) == (product.id, "10.00")
    assert (shown.delivery.address, shown.delivery.lat) == (DELIVERY.address, DELIVERY.lat)
    assert shown.placed_at.seconds > 0
    mine = orders.GetOrder(orders_pb2.GetOrderRequest(order_id=first.order_id), metadata=as_bob, timeout=10)
    assert mine.id == first.order_id

    gone = clients.wait_for_order(declined.order_id, "CANCELLED")
    assert gone.cancel_reason == orders_pb2.CANCEL_REASON_PAYMENT_DECLINED
    listed = orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=1), metadata=as_bob, timeout=10)
    rest = orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=1, page_token=listed.next_page_token),
                             metadata=as_bob, timeout=10)
    assert {order.id for order in (*listed.orders, *rest.orders)} == {first.order_id, declined.order_id}
    assert rest.next_page_token == ""
    assert orders.ListOrders(orders_pb2.ListOrdersRequest(), metadata=as_carol, timeout=10).orders == []
    filtered = orders.ListOrders(orders_pb2.ListOrdersRequest(customer_id=bob,
                                                              status=orders_pb2.ORDER_STATUS_CANCELLED),
                                 metadata=clients.admin, timeout=10)
    assert [order.id for order in filtered.orders] == [declined.order_id]
    assert refusal(lambda: orders.ListOrders(orders_pb2.ListOrdersRequest(customer_id=carol), metadata=as_bob,
                                             timeout=10)) == \
        (Code.PERMISSION_DENIED, "a customer sees only their own orders")

    # Someone else's order is as missing as one that does not exist; an unknown one the same.
    for order_id in (first.order_id, str(uuid4())):
        expected = (Code.NOT_FOUND, f"order {order_id} not found")
        assert refusal(lambda order_id=order_id: orders.GetOrder(  # type: ignore[misc]
            orders_pb2.GetOrderRequest(order_id=order_id), metadata=as_carol, timeout=10)) == expected
        assert refusal(lambda order_id=order_id: orders.CancelOrder(  # type: ignore[misc]
            orders_pb2.CancelOrderRequest(order_id=order_id), metadata=as_carol, timeout=10)) == expected
        assert refusal(lambda order_id=order_id: orders.ConfirmReceipt(  # type: ignore[misc]
            orders_pb2.ConfirmReceiptRequest(order_id=order_id), metadata=as_carol, timeout=10)) == expected
        stream = clients.stream(order_id, as_carol)
        assert (stream.wait_until_ended(), stream.details) == expected
    assert refusal(lambda: orders.GetOrder(orders_pb2.GetOrderRequest(order_id=first.order_id),
                                           metadata=clients.caller("courier", "c-1"), timeout=10))[0] is \
        Code.PERMISSION_DENIED

    code, message = refusal(lambda: orders.ConfirmReceipt(orders_pb2.ConfirmReceiptRequest(order_id=first.order_id),
                                                          metadata=as_bob, timeout=10))
    assert (code, message) == (Code.FAILED_PRECONDITION,
                               "an order that is CONFIRMED cannot be received; it must be DELIVERED")
    cancelled = orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=first.order_id, reason="changed my mind"),
                                   metadata=as_bob, timeout=10)
    assert (cancelled.order_id, status_name(cancelled.status)) == (first.order_id, "CANCELLED")
    code, message = refusal(lambda: orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=first.order_id),
                                                       metadata=as_bob, timeout=10))
    assert (code, message) == (Code.FAILED_PRECONDITION, "an order that is CANCELLED can no longer be cancelled")
    final = clients.wait_for_order(first.order_id, "CANCELLED")
    assert (final.cancel_reason, final.cancel_note) == (orders_pb2.CANCEL_REASON_CUSTOMER_CANCELLED, "changed my mind")

    # An operator may cancel anyone's order; a stream of a final order sends its status and ends.
    third = clients.place(carol, product.id)
    by_admin = orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=third.order_id), metadata=clients.admin,
                                  timeout=10)
    assert status_name(by_admin.status) == "CANCELLED"
    clients.wait_for_order(third.order_id, "CANCELLED")
    ended = clients.stream(third.order_id, as_carol)
    assert ended.wait_until_ended() is Code.OK
    assert ended.statuses == ["CANCELLED"]
    assert ended.updates[0].cancel_reason == orders_pb2.CANCEL_REASON_CUSTOMER_CANCELLED
    assert ended.updates[0].message == "order CANCELLED"


def test_an_idempotency_key_names_one_order_on_both_faces(stack: GrpcStack, product: products_pb2.Product) -> None:
    clients = stack.clients
    dana, key = f"dana-{uuid4().hex[:6]}", f"key-{uuid4().hex}"
    first = clients.place(dana, product.id, key=key)
    again = clients.place(dana, product.id, key=key)
    assert (again.order_id, again.position, again.status, again.replayed, first.replayed) == \
        (first.order_id, first.position, first.status, True, False)
    code, message = refusal(lambda: clients.place(dana, product.id, quantity=2, key=key))
    assert code is Code.INVALID_ARGUMENT
    assert message == f"idempotency_key: {key!r} was first used with a different request"
    # The same customer's key over HTTP, with the same order: the first answer, whichever face gave it.
    answer = stack.http.post("/api/orders", headers={**stack.bearer("customer", dana), "Idempotency-Key": key}, json={
        "items": [{"product_id": product.id, "quantity": 1}], "payment": {"token": "tok_ok"},
        "delivery": {"address": DELIVERY.address, "lat": DELIVERY.lat, "lng": DELIVERY.lng}})
    assert answer.status_code == 202, answer.text
    assert answer.json()["order_id"] == first.order_id
    assert answer.headers["Idempotent-Replayed"] == "true"
    # A key whose first request is still running (here: claimed a moment ago and not answered yet).
    running = f"running-{uuid4().hex}"
    body = PlaceOrder(items=[OrderItem(UUID(product.id), 1)], payment=PaymentMethod("tok_ok"),
                      delivery=Delivery(DELIVERY.address, DELIVERY.lat, DELIVERY.lng))
    with stack.database.connect() as connection:
        connection.execute("INSERT INTO read.idempotency_keys (scope, key, request_hash) VALUES (%s, %s, %s)",
                           (f"orders:{dana}", running, request_fingerprint(msgspec.json.encode(body))))
    assert refusal(lambda: clients.place(dana, product.id, key=running)) == \
        (Code.ABORTED, f"the first request with idempotency_key {running!r} is running")
    # Another customer's key of the same text is theirs alone.
    other = clients.place(f"erik-{uuid4().hex[:6]}", product.id, key=key)
    assert other.order_id != first.order_id
    for order_id in (first.order_id, other.order_id):
        cancel_quietly(stack, order_id)


# ---- streams ---------------------------------------------------------------------------------------------------

def test_a_stream_cancelled_by_the_client_frees_its_server_resources(stack: GrpcStack,
                                                                     product: products_pb2.Product) -> None:
    clients = stack.clients
    customer = f"fay-{uuid4().hex[:6]}"
    placed = clients.place(customer, product.id)
    baseline = stack.open_grpc_streams()
    cancelled_key = ("logistics_grpc_server_handled_total",
                     (("grpc_code", "CANCELLED"), ("grpc_method", "StreamOrderStatus"),
                      ("grpc_service", "logistics.v1.OrderService"), ("grpc_type", "server_stream")))
    cancelled_before = stack.metrics().get(cancelled_key, 0)
    streams = [clients.stream(placed.order_id, clients.caller("customer", customer)) for _ in range(5)]
    eventually(lambda: all(stream.updates for stream in streams), timeout=30,
               what="every stream got the order's status")
    eventually(lambda: stack.open_grpc_streams() == baseline + 5, timeout=30,
               what="the server counts five open streams")
    for stream in streams:
        stream.cancel()
        assert stream.code is Code.CANCELLED
    eventually(lambda: stack.open_grpc_streams() == baseline, timeout=30,
               what="the server let go of every cancelled stream")
    eventually(lambda: stack.metrics().get(cancelled_key, 0) == cancelled_before + 5, timeout=30,
               what="the server counted the five streams as cancelled")
    cancel_quietly(stack, placed.order_id)


STREAMS = 200
ORDERS = 50  # each followed by four streams of its customer's, opened one after another as the order moves on
Followed = tuple[str, list[orders_pb2.OrderStatusUpdate], grpc.StatusCode]


def test_200_concurrent_streams_receive_every_change_while_orders_flow(stack: GrpcStack,
                                                                       product: products_pb2.Product) -> None:
    """Orders are placed and followed at once, then all cancelled while orders nobody follows keep coming."""
    clients = stack.clients
    customers = [f"crowd-{uuid4().hex[:6]}-{index}" for index in range(10)]

    async def follow_all() -> list[Followed]:
        async with grpc.aio.insecure_channel(stack.server.grpc_target) as channel:
            stub = orders_pb2_grpc.OrderServiceStub(channel)
            gate = asyncio.Semaphore(8)
            order_ids: list[str] = []
            followers: list[asyncio.Task[Followed]] = []
            first_updates: list[asyncio.Event] = []

            async def place(customer: str) -> str:
                async with gate:
                    answer = await stub.CreateOrder(orders_pb2.CreateOrderRequest(
                        items=[orders_pb2.OrderItem(product_id=product.id, quantity=1)],
                        payment=orders_pb2.Payment(token="tok_ok"), delivery=DELIVERY),
                        metadata=clients.caller("customer", customer), timeout=30)
                return str(answer.order_id)

            async def cancel(order_id: str) -> None:
                async with gate:
                    await stub.CancelOrder(orders_pb2.CancelOrderRequest(order_id=order_id),
                                           metadata=clients.admin, timeout=30)

            async def follow(order_id: str, customer: str, first_update: asyncio.Event) -> Followed:
                updates: list[orders_pb2.OrderStatusUpdate] = []
                call = stub.StreamOrderStatus(orders_pb2.StreamOrderStatusRequest(order_id=order_id),
                                              metadata=clients.caller("customer", customer), timeout=120)
                try:
                    async for update in call:
                        updates.append(update)
                        first_update.set()
                    code = Code.OK
                except grpc.aio.AioRpcError as error:
                    code = error.code()
                first_update.set()
                return order_id, updates, code

            async def place_and_follow(index: int) -> None:
                customer = customers[index % len(customers)]
                order_id = await place(customer)
                order_ids.append(order_id)
                for _ in range(STREAMS // ORDERS):
                    first_updates.append(asyncio.Event())
                    followers.append(asyncio.create_task(follow(order_id, customer, first_updates[-1])))
                    await asyncio.sleep(0.05)

            await asyncio.gather(*(place_and_follow(index) for index in range(ORDERS)))
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in first_updates)), 60)
            assert len(followers) == STREAMS
            assert not any(task.done() for task in followers), "a stream ended before its order did"
            bystanders = asyncio.gather(*(place(customers[0]) for _ in range(20)))
            await asyncio.gather(*(cancel(order_id) for order_id in order_ids))
            await asyncio.gather(*(cancel(order_id) for order_id in await bystanders))
            return list(await asyncio.wait_for(asyncio.gather(*followers), 90))

    results = asyncio.run(follow_all())
    assert len(results) == STREAMS
    assert len({order_id for order_id, *_ in results}) == ORDERS
    truth = {order_id: outbox_statuses(stack.database, order_id) for order_id in {result[0] for result in results}}
    for order_id, updates, code in results:
        assert code is Code.OK, (order_id, code)
        statuses = [status_name(update.status) for update in updates]
        assert statuses[0] in ("PENDING", "CONFIRMED"), statuses
        assert statuses[-1] == "CANCELLED", statuses
        expected = status_changes(truth[order_id], after=updates[0].position, known=statuses[0])
        assert [(update.position, status_name(update.status)) for update in updates[1:]] == expected, order_id


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_client_example() -> str:
    section = README.read_text().split("### API (gRPC)", 1)[1].split("\n### ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_client_example_places_an_order_and_follows_it_to_the_end(
        stack: GrpcStack, product: products_pb2.Product) -> None:
    customer = f"kiki-{uuid4().hex[:6]}"
    code = readme_client_example()
    token = stack.clients.tokens.issue("customer", customer)
    for name, value in (("TARGET", stack.server.grpc_target), ("TOKEN", token), ("PRODUCT_ID", product.id)):
        code, replaced = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", code, flags=re.MULTILINE)
        assert replaced == 1, f"the README's example no longer sets {name}"
    printed: list[str] = []
    failure: list[BaseException] = []

    def say(*words: object) -> None:
        printed.append(" ".join(map(str, words)))

    def run() -> None:
        try:
            exec(compile(code, str(README), "exec"), {"print": say})
        except BaseException as error:  # handed to the test thread
            failure.append(error)

    example = threading.Thread(target=run, name="readme-example", daemon=True)
    example.start()
    eventually(lambda: len(printed) >= 2 or failure, timeout=30,
               what="the example placed an order and printed its status")
    assert not failure, failure
    order_id = printed[0].removeprefix("order ")
    assert printed[1].startswith(("ORDER_STATUS_PENDING at ", "ORDER_STATUS_CONFIRMED at ")), printed
    cancel_quietly(stack, order_id)
    example.join(30)
    assert not example.is_alive(), f"the example is still following the order: {printed}"
    assert not failure, failure
    assert printed[-1].startswith("ORDER_STATUS_CANCELLED at "), printed
    positions = [int(line.rsplit(" ", 1)[1]) for line in printed[1:]]
    assert positions == sorted(set(positions))


def test_stopping_the_server_ends_open_streams_cleanly(stack: GrpcStack, product: products_pb2.Product) -> None:
    """A second gRPC instance on the same platform: stopped, its streams end UNAVAILABLE, to resume elsewhere."""
    clients = stack.clients
    customer = f"hana-{uuid4().hex[:6]}"
    as_customer = clients.caller("customer", customer)
    placed = clients.place(customer, product.id)
    with grpc_process(stack.env, stack.log_dir) as second, open_channel(second.grpc_target) as channel:
        stream = GrpcClients(channel, clients.tokens).stream(placed.order_id, as_customer)
        eventually(lambda: stream.updates, timeout=30, what="the stream sent the order's status")
        started = time.monotonic()
        second.process.send_signal(signal.SIGTERM)
        assert stream.wait_until_ended(20) is Code.UNAVAILABLE
        last = stream.updates[-1]
        assert stream.details == f"server stopping; reconnect to resume (resume with after={last.position})"
        assert second.process.wait(20) == 0
        assert time.monotonic() - started < 10, "a stopping server does not wait for its open streams"
    # Resumed on the instance that still runs: nothing is missed, nothing repeated.
    cancel_quietly(stack, placed.order_id)
    resumed = clients.stream(placed.order_id, as_customer, after=last.position)
    assert resumed.wait_until_ended() is Code.OK, resumed.details
    rows = outbox_statuses(stack.database, placed.order_id)
    assert [(update.position, status_name(update.status)) for update in resumed.updates] == \
        status_changes(rows, after=last.position, known=status_name(last.status))
    assert resumed.statuses[-1] == "CANCELLED"


def test_an_order_is_streamed_from_pending_to_received_and_a_reconnect_misses_nothing(
        stack: GrpcStack, product: products_pb2.Product) -> None:
    clients = stack.clients
    customer = f"gita-{uuid4().hex[:6]}"
    as_customer = clients.caller("customer", customer)
    placed = clients.place(customer, product.id)
    whole = clients.stream(placed.order_id, as_customer, after=0)  # every change, from the first one kept
    live = clients.stream(placed.order_id, as_customer)  # the status now, then every change
    interrupted = clients.stream(placed.order_id, as_customer)
    confirmed = interrupted.wait_for("CONFIRMED")
    interrupted.cancel()

    # While that client is away, a courier takes the order: it must be the only one waiting.
    settle(stack.database)
    with stack.database.connect() as connection:
        waiting = connection.execute("SELECT id FROM read.orders WHERE status = 'CONFIRMED' AND id <> %s",
                                     (placed.order_id,)).fetchall()
    assert waiting == [], f"orders of other tests wait for a courier and would take it: {waiting}"
    courier = stack.http.post("/api/couriers", headers=stack.bearer("admin", "ops"),
                              json={"name": "Kurir", "lat": -6.19, "lng": 106.82})
    assert courier.status_code == 201, courier.text
    as_courier = {"Authorization": f"Bearer {courier.json()['token']}"}
    assignment = eventually(lambda: (job := stack.http.get(f"/api/couriers/{courier.json()['id']}/assignment",
                                                           headers=as_courier).json())["shipment_id"] and job,
                            timeout=60, interval=0.2, what="the courier given the order")
    picked_up = stack.http.post(f"/api/shipments/{assignment['shipment_id']}/picked-up", headers=as_courier)
    assert picked_up.status_code == 202, picked_up.text
    clients.wait_for_order(placed.order_id, "IN_TRANSIT")
    code, message = refusal(lambda: clients.orders.CancelOrder(orders_pb2.CancelOrderRequest(
        order_id=placed.order_id), metadata=as_customer, timeout=10))
    assert (code, message) == (Code.FAILED_PRECONDITION, "an order that is IN_TRANSIT can no longer be cancelled")
    delivered = stack.http.post(f"/api/shipments/{assignment['shipment_id']}/delivered", headers=as_courier)
    assert delivered.status_code == 202, delivered.text
    clients.wait_for_order(placed.order_id, "DELIVERED")

    resumed = clients.stream(placed.order_id, as_customer, after=confirmed.position)
    resumed.wait_for("DELIVERED")
    received = clients.orders.ConfirmReceipt(orders_pb2.ConfirmReceiptRequest(order_id=placed.order_id),
                                             metadata=as_customer, timeout=10)
    assert status_name(received.status) == "RECEIVED"

    for stream in (whole, live, resumed):
        assert stream.wait_until_ended() is Code.OK, stream.details
    rows = outbox_statuses(stack.database, placed.order_id)
    assert whole.statuses == EVERY_STATUS
    assert [(update.position, status_name(update.status)) for update in whole.updates] == status_changes(rows)
    assert live.statuses[0] in ("PENDING", "CONFIRMED")
    assert live.statuses == EVERY_STATUS[EVERY_STATUS.index(live.statuses[0]):]
    assert resumed.statuses == ["IN_TRANSIT", "DELIVERED", "RECEIVED"]
    assert [(update.position, status_name(update.status)) for update in resumed.updates] == \
        status_changes(rows, after=confirmed.position, known="CONFIRMED")
    for stream in (whole, live, resumed):
        assert stream.positions == sorted(set(stream.positions))
        assert all(update.order_id == placed.order_id for update in stream.updates)


def settle(database: Database, limit_s: float = 60.0) -> None:
    """Until every follower is at its head and the relay has sent everything."""
    def settled() -> bool:
        status = platform_status(database)
        return status.relay.unsent == 0 and not any(follower.lag_events for follower in status.followers)

    eventually(settled, timeout=limit_s, interval=0.2, what="the platform to settle",
               explain=lambda: platform_status(database))


# ---- the database down, and the all-in-one run --------------------------------------------------------------------

def set_connections_allowed(server: Database, database: Database, allowed: bool) -> None:
    """Whether PostgreSQL lets anyone connect to the database: refused, it is down for the platform."""
    with server.connect() as connection:
        connection.execute(f'ALTER DATABASE "{database.dbname}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                               (database.dbname,))


def created_unless_unavailable(clients: GrpcClients, sku: str) -> bool:
    """Whether the product was created; False for UNAVAILABLE, any other refusal fails the test."""
    try:
        clients.create_product(sku)
    except grpc.RpcError as error:
        if error.code() is not Code.UNAVAILABLE:
            raise
        return False
    return True


def test_health_follows_the_database_and_calls_are_unavailable_while_it_is_down(
        pg_server: Database, amqp_url: str, tmp_path: Path) -> None:
    database = fresh_database(pg_server)
    rabbit = RabbitEnv(amqp_url)
    env = platform_env(database, tmp_path, LOGISTICS_AMQP_URL=rabbit.url, LOGISTICS_AMQP_EXCHANGE=rabbit.exchange)
    try:
        with grpc_process(env, tmp_path) as server, open_channel(server.grpc_target) as channel:
            clients = GrpcClients(channel, TokenIssuer(SECRET))
            created = clients.create_product("DOWN-1")
            assert clients.serving_status() == SERVING
            set_connections_allowed(pg_server, database, allowed=False)
            eventually(lambda: clients.serving_status() == NOT_SERVING, timeout=30,
                       what="the health service says NOT_SERVING")
            assert clients.serving_status("logistics.v1.OrderService") == NOT_SERVING
            ready = httpx.get(f"{server.base_url}/health/ready", timeout=10, trust_env=False)
            assert ready.status_code == 503
            calls = [
                lambda: clients.products.CreateProduct(products_pb2.CreateProductRequest(
                    sku="DOWN-2", name="Down", price="1.00"), metadata=clients.admin, timeout=10),
                lambda: clients.products.GetProduct(products_pb2.GetProductRequest(product_id=created.id),
                                                    metadata=clients.admin, timeout=10),
                lambda: clients.orders.ListOrders(orders_pb2.ListOrdersRequest(), metadata=clients.admin, timeout=10),
                lambda: clients.place("ivan", created.id),
            ]
            for call in calls:
                assert refusal(call) == (Code.UNAVAILABLE, "the database is unreachable; retry the call")
            stream = clients.stream(str(uuid4()), clients.admin)
            assert (stream.wait_until_ended(), stream.details) == \
                (Code.UNAVAILABLE, "the database is unreachable; retry the call")

            set_connections_allowed(pg_server, database, allowed=True)
            eventually(lambda: clients.serving_status() == SERVING, timeout=30,
                       what="the health service says SERVING again")
            # A pooled connection that died with the outage may fail one more call, as UNAVAILABLE.
            eventually(lambda: created_unless_unavailable(clients, "DOWN-3"), timeout=30, interval=0.2,
                       what="a product created once the database is back")
            assert "Traceback" not in server.log(), "a refused call should not log as a server failure"
    finally:
        set_connections_allowed(pg_server, database, allowed=True)
        drop_database(pg_server, database.dbname)
        rabbit.cleanup()


def test_the_all_in_one_run_serves_grpc_on_its_in_process_broker(pg_server: Database, tmp_path: Path) -> None:
    database = fresh_database(pg_server)
    http_port, grpc_port = free_ports(2)
    try:
        with logistics_process(["run", "--grpc-port", str(grpc_port)], platform_env(database, tmp_path), tmp_path,
                               port=http_port) as run, open_channel(f"127.0.0.1:{grpc_port}") as channel:
            clients = GrpcClients(channel, TokenIssuer(SECRET))
            assert clients.serving_status() == SERVING
            product_id = clients.create_product("RUN-1").id
            clients.wait_for_product(product_id)
            as_customer = clients.caller("customer", "joko")
            placed = clients.place("joko", product_id)
            followed = clients.stream(placed.order_id, as_customer, after=0)
            followed.wait_for("CONFIRMED")
            # The same order over HTTP, from the same process.
            answer = httpx.get(f"{run.base_url}/api/orders/{placed.order_id}", timeout=10, trust_env=False,
                               headers={"Authorization": f"Bearer {clients.tokens.issue('customer', 'joko')}"})
            assert answer.status_code == 200, answer.text
            # Stopping `run` ends the stream cleanly too, with the position to resume after.
            run.process.send_signal(signal.SIGINT)
            assert followed.wait_until_ended(20) is Code.UNAVAILABLE
            assert followed.details.endswith(f"(resume with after={followed.positions[-1]})")
            assert followed.statuses == ["PENDING", "CONFIRMED"]
            assert run.process.wait(30) == 0
    finally:
        drop_database(pg_server, database.dbname)
