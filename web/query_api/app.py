"""The query API as one composition plugin over the read side."""

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins import InitPluginProtocol

from adapters.bootstrap import ReadSide
from queries.orders import OrderQueries
from web.common import CommonPlugin, constant
from web.query_api.orders import OrderQueriesController

QUERY_CONTROLLERS = [OrderQueriesController]


class QueryApiPlugin(InitPluginProtocol):
    """Wires the query handlers and their dependencies onto an app built from the read side."""

    def __init__(self, read: ReadSide) -> None:
        self._read = read

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        pool = self._read.pool
        app_config.route_handlers.extend(QUERY_CONTROLLERS)
        app_config.dependencies.update({
            "order_queries": constant(OrderQueries(pool)),
        })
        return app_config


def create_query_api(read: ReadSide) -> Litestar:
    return Litestar(
        plugins=[QueryApiPlugin(read), CommonPlugin(read.settings.secret)],
        openapi_config=OpenAPIConfig(title="Logistics query API", version="0.1.0",
                                     description="Read models, the audit log and live push. Read-only."),
    )
