"""Running the platform's servers: the HTTP processes under uvicorn, and the gRPC face."""

import logging
from http.server import ThreadingHTTPServer

import uvicorn
from litestar import Litestar

from adapters.bootstrap import open_platform, open_read_side
from adapters.settings import Settings
from web.command_api.app import create_command_api
from web.platform_app import PlatformApp
from web.query_api.app import create_query_api

log = logging.getLogger(__name__)

COMBINED_COMMAND_SCHEMA = "/schema/commands"


def serve(app: Litestar | PlatformApp, host: str, port: int) -> None:
    # log_config=None: uvicorn's records go through our handlers (JSON, with correlation ids) like the rest.
    # timeout_graceful_shutdown: open SSE streams would otherwise keep a stopping server alive for ever.
    config = uvicorn.Config(app, host=host, port=port, log_level="info", lifespan="on", access_log=False,
                            log_config=None, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run()


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
                health.append(serve_health(host, health_port, [database_reachable(platform.database)]))

        try:
            serve_forever(GrpcFace(platform, read), host, port, serving)
        except PortUnavailable as error:
            raise SystemExit(f"logistics grpc: {error}") from None
        finally:
            for server in health:
                server.shutdown()


def run_all(settings: Settings, host: str, port: int, grpc_port: int | None = None) -> None:
    """Everything in one process: the HTTP APIs, the gRPC face, the saga's worker, the projector with its relay."""
    from scripts.projector import projector_supervisor
    from scripts.worker import worker_supervisor
    from web.grpc_api.server import GrpcFace, GrpcThread, PortUnavailable

    with open_platform(settings) as platform, \
            open_read_side(settings, platform.database, platform.broker) as read:
        mode = "embedded PostgreSQL" if not settings.database_url else "PostgreSQL"
        broker = "RabbitMQ" if settings.amqp_url else "in-process broker"
        supervisors = [worker_supervisor(platform.database, settings),
                       projector_supervisor(platform.database, platform.broker, settings)]
        for supervisor in supervisors:
            supervisor.start()
        # The gRPC face shares the platform: its write side, its read pool and its broker (in-process, embedded).
        grpc_server = GrpcThread(GrpcFace(platform, read), host, settings.grpc_port if grpc_port is None else grpc_port)
        try:
            try:
                grpc_server.start()
            except PortUnavailable as error:
                raise SystemExit(f"logistics run: {error}") from None
            log.info("logistics platform on http://%s:%d and gRPC %s:%d with %s and %s", host, port, host,
                     grpc_server.port, mode, broker)
            command_api = create_command_api(platform, schema_path=COMBINED_COMMAND_SCHEMA)
            serve(PlatformApp(command_api, create_query_api(read)), host, port)
        finally:
            grpc_server.stop()
            for supervisor in supervisors:
                supervisor.stop()
