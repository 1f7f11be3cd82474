"""The gRPC server: the two services over the platform, the standard health service, server reflection.

It runs on an asyncio loop of its own (grpc.aio), in the main thread for `logistics grpc` or in a thread beside
uvicorn for `logistics run`. The status streams are fed by this loop's own push hub and feed, subscribed to the
process's broker like the query API's (RabbitMQ: a private queue; embedded: the in-process broker).

Stopping is graceful: the health service turns NOT_SERVING, new calls are refused, unary calls in flight get a
few seconds to finish, and every open stream ends at once with UNAVAILABLE and the position to resume after.
"""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from adapters.health import database_reachable
from composition.read_side import ReadSide
from composition.write_side import Platform
from queries.orders import OrderQueries
from queries.products import ProductQueries
from queries.push import PushQueries
from queries.push_hub import DEFAULT_CAPACITY, PushHub
from web.grpc_api.calls import Admission, service_handler
from web.grpc_api.generated import orders_pb2, products_pb2
from web.grpc_api.health import CHECK_INTERVAL_S, DatabaseWatch
from web.grpc_api.orders import OrderRpcs
from web.grpc_api.products import ProductRpcs
from web.query_api.push_context import PushContext
from web.query_api.push_feed import PushFeed

log = logging.getLogger(__name__)

PRODUCT_SERVICE: Final = products_pb2.DESCRIPTOR.services_by_name["ProductService"]
ORDER_SERVICE: Final = orders_pb2.DESCRIPTOR.services_by_name["OrderService"]
SERVICE_NAMES: Final = (PRODUCT_SERVICE.full_name, ORDER_SERVICE.full_name)

STOP_GRACE_S: Final = 5.0
# Calls run the application services (blocking, on the database pools) on these threads.
CALL_THREADS: Final = 32
OPTIONS: Final = [
    # Without this gRPC sets SO_REUSEPORT, and a second server on a taken port would start without an error.
    ("grpc.so_reuseport", 0),
    # Pings on idle connections, so that a stream whose client vanished is noticed and its resources freed.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.max_pings_without_data", 0),
    # The largest request is an order of 50 lines, a few kilobytes.
    ("grpc.max_receive_message_length", 1 << 20),
]


class PortUnavailable(OSError):
    """The server could not listen where it was told to (the port is taken, or the address is not ours)."""


class GrpcFace:
    """The server with everything it serves; `start` binds and serves, `stop` ends it gracefully."""

    def __init__(self, platform: Platform, read: ReadSide, *, capacity: int = DEFAULT_CAPACITY,
                 health_interval_s: float = CHECK_INTERVAL_S) -> None:
        self._platform = platform
        self._read = read
        self.hub = PushHub(capacity=capacity)
        self.feed = PushFeed(read.broker, self.hub)
        self.push = PushContext(hub=self.hub, queries=PushQueries(read.pool), feed=self.feed,
                                secret=platform.settings.secret)
        self.health = health_aio.HealthServicer()
        self.watch = DatabaseWatch(database_reachable(platform.status), self.health, SERVICE_NAMES,
                                   health_interval_s)
        self._server: grpc.aio.Server | None = None
        self._watching: asyncio.Task[None] | None = None

    def _build(self) -> grpc.aio.Server:
        write = self._platform.write
        admission = Admission(secret=self._platform.settings.secret, database_reachable=self.watch.is_reachable)
        products = ProductRpcs(write.inventory, ProductQueries(self._read.pool))
        orders = OrderRpcs(write.orders, write.place_order, self._platform.idempotency,
                           OrderQueries(self._read.pool), self.push)
        server = grpc.aio.server(options=OPTIONS)
        server.add_generic_rpc_handlers([
            service_handler(PRODUCT_SERVICE, products.methods(), admission),
            service_handler(ORDER_SERVICE, orders.methods(), admission),
        ])
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            server)
        return server

    async def start(self, host: str, port: int) -> int:
        """Bind and serve; returns the port (the one given, or the one chosen for 0)."""
        server = self._build()
        try:
            bound = server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as error:
            raise PortUnavailable(f"the gRPC server cannot listen on {host}:{port} (is the port taken?)") from error
        await self.watch.check_now()  # the first health answer is a real one
        await self.feed.start()
        await server.start()
        self._server = server
        self._watching = asyncio.create_task(self.watch.run(), name="grpc-database-watch")
        return bound

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        await self.health.enter_graceful_shutdown()
        # Refuses new calls at once and gives those in flight `grace_s`; the streams are ended right away below.
        stopping = asyncio.create_task(server.stop(grace_s))
        await self.feed.stop()
        await stopping
        if self._watching is not None:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)


def _use_call_threads() -> None:
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=CALL_THREADS, thread_name_prefix="grpc-call"))


async def _serve(face: GrpcFace, host: str, port: int, stop: asyncio.Event,
                 on_serving: Callable[[int], None] | None = None) -> None:
    _use_call_threads()
    actual = await face.start(host, port)
    log.info("gRPC on %s:%d (health, reflection; services %s)", host, actual, ", ".join(SERVICE_NAMES))
    try:
        if on_serving is not None:
            on_serving(actual)
        await stop.wait()
    finally:
        log.info("gRPC stopping")
        await face.stop()


def serve_forever(face: GrpcFace, host: str, port: int, on_serving: Callable[[int], None] | None = None) -> None:
    """Serve in this (the main) thread until Ctrl-C or SIGTERM, then stop gracefully; `on_serving` gets the port."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await _serve(face, host, port, stop, on_serving)

    asyncio.run(main())


class GrpcThread:
    """The server on a thread of its own, beside another server that owns the main thread (`logistics run`)."""

    def __init__(self, face: GrpcFace, host: str, port: int) -> None:
        self._face = face
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port: int | None = None
        self._thread = threading.Thread(target=self._run, name="grpc", daemon=True)

    def start(self, timeout_s: float = 30.0) -> int:
        """Start serving; returns the bound port once it serves, or raises what kept it from starting."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"the gRPC server did not start within {timeout_s} s")
        if isinstance(self._error, PortUnavailable):
            raise self._error
        if self._error is not None:
            raise RuntimeError(f"the gRPC server did not start: {self._error}") from self._error
        assert self.port is not None
        return self.port

    def stop(self, timeout_s: float = STOP_GRACE_S + 10) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await _serve(self._face, self._host, self._port, self._stop, self._started)

        try:
            asyncio.run(main())
        except BaseException as error:
            self._error = error
            if self._ready.is_set():
                log.exception("the gRPC server failed")
        finally:
            self._ready.set()

    def _started(self, port: int) -> None:
        self.port = port
        self._ready.set()
