"""Running the platform's servers: the HTTP processes under uvicorn, and the gRPC face."""

import logging
import sys
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from socket import socket

import uvicorn
from litestar import Litestar

from adapters.health_server import supervised_loops_healthy
from adapters.settings import Settings
from composition.read_side import open_read_side
from composition.write_side import open_platform
from web.command_api.app import create_command_api
from web.docs import PlatformSchema
from web.platform_app import PlatformApp
from web.query_api.app import create_query_api

log = logging.getLogger(__name__)

COMBINED_COMMAND_SCHEMA = "/schema/commands"
ALL_IN_ONE_READ_POOL = 2


class _Server(uvicorn.Server):
    """uvicorn's server, telling `on_ready` once it listens and the apps have started."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_ready is not None:
            self._on_ready()


def serve(app: Litestar | PlatformApp, host: str, port: int, on_ready: Callable[[], None] | None = None,
          log_level: str = "info") -> None:
    # log_config=None: uvicorn's records go through our handlers (JSON, with correlation ids) like the rest.
    # timeout_graceful_shutdown: open SSE streams would otherwise keep a stopping server alive for ever.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on", access_log=False,
                            log_config=None, timeout_graceful_shutdown=5)
    _Server(config, on_ready).run()


def banner(settings: Settings, host: str, port: int, database: str, broker: str, grpc_port: int | None = None) -> str:
    """What a person who just typed `./dev run` needs: where to go, who to be, how to stop."""
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    lines = [
        f"Logistics platform running on {url}  ({database}, {broker})",
        "",
        f"  Web console   {url}/",
        f"  API docs      {url}/schema  (commands and queries; also /schema/redoc, /schema/elements, /schema/rapidoc)",
        f"  Health        {url}/health/ready    Metrics  {url}/metrics",
        *([f"  gRPC          {url.split('//', 1)[1].rsplit(':', 1)[0]}:{grpc_port}  (logistics.v1; reflection on)"]
          if grpc_port else []),
        "",
    ]
    if settings.demo:
        lines += ["  Demo logins   pick one on the login page: customers demo-customer-1 to -6, the operator (ops),",
                  "                or any registered courier",
                  "  Make it busy  .venv/bin/logistics demo   (in another terminal: products, couriers, orders)"]
    else:
        lines += ["  Sign in       with a token: .venv/bin/logistics token --role admin --subject ops"]
    lines += ["", "  Stop          Ctrl-C", ""]
    return "\n".join(lines)


def run_command_api(settings: Settings, host: str, port: int) -> None:
    with open_platform(settings) as platform:
        log.info("command API on http://%s:%d (OpenAPI at /schema)", host, port)
        serve(create_command_api(platform), host, port)


def run_query_api(settings: Settings, host: str, port: int) -> None:
    with open_read_side(settings) as read:
        log.info("query API on http://%s:%d (OpenAPI at /schema)", host, port)
        serve(create_query_api(read), host, port)


def run_grpc(settings: Settings, host: str, port: int, health_port: int | None = None) -> None:
    """The gRPC face alone: the write side for its commands, the read side for its reads and streams."""
    from adapters.health import database_reachable
    from adapters.health_server import serve_health
    from web.grpc_api.server import GrpcFace, PortUnavailable, serve_forever

    with open_platform(settings) as platform, \
            open_read_side(settings, platform.database, platform.broker) as read:
        # /health/* and /metrics over HTTP, as the worker and projector serve them, for probes and scrapes; up
        # once the gRPC server serves, so that a live health port means a listening gRPC port.
        health: list[ThreadingHTTPServer] = []

        def serving(_: int) -> None:
            if health_port:
                health.append(serve_health(host, health_port, [database_reachable(platform.status)]))

        try:
            serve_forever(GrpcFace(platform, read), host, port, serving)
        except PortUnavailable as error:
            raise SystemExit(f"logistics grpc: {error}") from None
        finally:
            for server in health:
                server.shutdown()


def run_all(settings: Settings, host: str, port: int, grpc_port: int | None = None) -> None:
    """Everything in one process: the HTTP APIs, the gRPC face, the saga's worker, the projector with its relay."""
    from adapters.follower_host import FollowerHost
    from scripts.projector import projector_followers, projector_supervisor
    from scripts.worker import worker_followers, worker_supervisor
    from web.grpc_api.server import GrpcFace, GrpcThread, PortUnavailable

    # One application per context (the API's and the saga's), one follower host (pool, leases, LISTEN) for the
    # worker's and the projector's followers, one status connection, a small read pool: one process, one budget.
    with open_platform(settings, all_in_one=True) as platform, \
            open_read_side(settings, platform.database, platform.broker, platform.status,
                           pool_size=ALL_IN_ONE_READ_POOL) as read:
        mode = "embedded PostgreSQL" if not settings.database_url else "PostgreSQL"
        broker = "RabbitMQ" if settings.amqp_url else "in-process broker"
        _, worker_partitions, worker_channels = worker_followers()
        _, projector_partitions, projector_channels = projector_followers()
        followers = FollowerHost(platform.database, {**worker_partitions, **projector_partitions},
                                 worker_channels | projector_channels)
        followers.start()
        supervisors = [worker_supervisor(platform.database, settings, steps=platform.write.steps, host=followers),
                       projector_supervisor(platform.database, platform.broker, settings, host=followers)]
        for supervisor in supervisors:
            supervisor.start()
        # The gRPC face shares the platform: its write side, its read pool and its broker (in-process, embedded).
        grpc_server = GrpcThread(GrpcFace(platform, read), host, settings.grpc_port if grpc_port is None else grpc_port)
        try:
            try:
                grpc_server.start()
            except PortUnavailable as error:
                raise SystemExit(f"logistics run: {error}") from None
            loops = [supervised_loops_healthy(supervisor) for supervisor in supervisors]
            docs = PlatformSchema()
            command_api = create_command_api(platform, schema_path=COMBINED_COMMAND_SCHEMA, alone=False,
                                             extra_readiness=loops)
            query_api = create_query_api(read, docs_source=docs, extra_readiness=loops)
            docs.attach(command_api, query_api)

            def ready() -> None:
                print(banner(settings, host, port, mode, broker, grpc_server.port), file=sys.stdout, flush=True)

            # The banner says what uvicorn's startup lines would, and more; its warnings and errors still show.
            serve(PlatformApp(command_api, query_api), host, port, on_ready=ready, log_level="warning")
        finally:
            grpc_server.stop()
            for supervisor in supervisors:
                supervisor.stop()
            followers.stop()
