"""The command API as one composition plugin over the platform's write side."""

from typing import Any

from litestar import Litestar, get
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins import InitPluginProtocol

from adapters.bootstrap import Platform
from web.auth import jwt_auth
from web.command_api.couriers import CourierCommands, ShipmentCommands
from web.command_api.orders import OrderCommands
from web.command_api.products import ProductCommands
from web.problems import problem_details_plugin

COMMAND_CONTROLLERS = [ProductCommands, OrderCommands, CourierCommands, ShipmentCommands]


def _constant(value: Any) -> Provide:
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


@get("/health/live", operation_id="Live", tags=["health"], sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


class CommandApiPlugin(InitPluginProtocol):
    """Wires the command handlers, auth and error mapping onto an app built from the platform."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        write = self._platform.write
        app_config.route_handlers.extend([*COMMAND_CONTROLLERS, live])
        app_config.dependencies.update({
            "orders": _constant(write.orders),
            "inventory": _constant(write.inventory),
            "shipping": _constant(write.shipping),
            "place_order": _constant(write.place_order),
            "idempotency": _constant(self._platform.idempotency),
            "tokens": _constant(self._platform.tokens),
        })
        app_config.plugins.append(problem_details_plugin())
        return jwt_auth(self._platform.settings.secret).on_app_init(app_config)


def create_command_api(platform: Platform) -> Litestar:
    return Litestar(
        plugins=[CommandApiPlugin(platform)],
        openapi_config=OpenAPIConfig(title="Logistics command API", version="0.1.0",
                                     description="Commands for orders, products, stock, couriers and shipments. "
                                                 "Authenticate with a bearer token from `logistics token`."),
    )
