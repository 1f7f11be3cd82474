"""The command API as one composition plugin over the platform's write side."""

from collections.abc import Sequence

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins import InitPluginProtocol

from adapters.health import database_reachable
from composition.write_side import Platform
from web.baseline import BaselinePlugin, constant
from web.command_api.couriers import CourierCommands, ShipmentCommands
from web.command_api.orders import OrderCommands
from web.command_api.parked import ParkedCommands
from web.command_api.problems import COMMAND_PROBLEMS
from web.command_api.products import ProductCommands
from web.docs import docs_assets_router, render_plugins
from web.observability import CommandMetricsMiddleware, ReadinessCheck
from web.openapi_problems import document_problems
from web.strict_input import MAX_BODY_BYTES

COMMAND_CONTROLLERS = [ProductCommands, OrderCommands, CourierCommands, ShipmentCommands, ParkedCommands]


class CommandApiPlugin(InitPluginProtocol):
    """Wires the command handlers and their dependencies onto an app built from the platform."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        write = self._platform.write
        app_config.route_handlers.extend(COMMAND_CONTROLLERS)
        app_config.dependencies.update({
            "orders": constant(write.orders),
            "inventory": constant(write.inventory),
            "shipping": constant(write.shipping),
            "place_order": constant(write.place_order),
            "idempotency": constant(self._platform.idempotency),
            "tokens": constant(self._platform.tokens),
            "parked": constant(self._platform.parked),
            "tracking": constant(self._platform.tracking),
        })
        return app_config


def create_command_api(platform: Platform, schema_path: str = "/schema", *, alone: bool = True,
                       extra_readiness: Sequence[ReadinessCheck] = ()) -> Litestar:
    """`schema_path` moves the OpenAPI documents aside when the query API shares the port (`logistics run`),
    whose supervised loops add their own readiness (`extra_readiness`); alone, the app serves its docs pages'
    vendored assets itself (beside the query API, that one does)."""
    app = Litestar(
        route_handlers=[docs_assets_router()] if alone else [],
        logging_config=None,  # the process's own logging (adapters.logging_setup) stays in charge
        request_max_body_size=MAX_BODY_BYTES,
        # Ready when the database is: commands never wait for the broker (the outbox does), so a broker outage
        # must not take the command API out of a load balancer's rotation.
        plugins=[CommandApiPlugin(platform), BaselinePlugin(platform.settings.secret, readiness=(
            database_reachable(platform.status), *extra_readiness), problems=COMMAND_PROBLEMS)],
        middleware=[CommandMetricsMiddleware()],
        openapi_config=OpenAPIConfig(title="Logistics command API", version="0.1.0", path=schema_path,
                                     description="Commands for orders, products, stock, couriers and shipments. "
                                                 "Authenticate with a bearer token from `logistics token`.",
                                     render_plugins=render_plugins()),
    )
    document_problems(app, commands=True)
    return app
