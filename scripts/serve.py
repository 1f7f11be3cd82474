"""Running the platform's HTTP processes under uvicorn."""

import logging

import uvicorn
from litestar import Litestar

from adapters.bootstrap import open_platform, open_read_side
from adapters.health_server import supervised_loops_healthy
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


def run_all(settings: Settings, host: str, port: int) -> None:
    """Everything in one process: the command API, the saga's worker, and the projector with its relay."""
    from scripts.projector import projector_supervisor
    from scripts.worker import worker_supervisor

    with open_platform(settings) as platform, \
            open_read_side(settings, platform.database, platform.broker) as read:
        mode = "embedded PostgreSQL" if not settings.database_url else "PostgreSQL"
        broker = "RabbitMQ" if settings.amqp_url else "in-process broker"
        supervisors = [worker_supervisor(platform.database, settings),
                       projector_supervisor(platform.database, platform.broker, settings)]
        for supervisor in supervisors:
            supervisor.start()
        try:
            log.info("logistics platform on http://%s:%d with %s and %s", host, port, mode, broker)
            loops = [supervised_loops_healthy(supervisor) for supervisor in supervisors]
            command_api = create_command_api(platform, schema_path=COMBINED_COMMAND_SCHEMA, extra_readiness=loops)
            serve(PlatformApp(command_api, create_query_api(read, extra_readiness=loops)), host, port)
        finally:
            for supervisor in supervisors:
                supervisor.stop()
