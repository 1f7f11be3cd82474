"""The query API as one composition plugin over the read side."""

from collections.abc import Sequence

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins import InitPluginProtocol

from adapters.event_store_reader import EventStoreQueries
from adapters.health import broker_reachable, database_reachable, read_models_fresh
from composition.read_side import ReadSide
from queries.audit import AuditQueries
from queries.couriers import CourierQueries
from queries.late_deliveries import LateDeliveries
from queries.live_positions import LivePositions
from queries.orders import OrderQueries
from queries.parked import ParkedQueries
from queries.products import ProductQueries
from queries.shipments import ShipmentQueries
from web.baseline import BaselinePlugin, constant
from web.docs import SchemaSource, render_plugins
from web.observability import ReadinessCheck
from web.openapi_problems import document_problems
from web.pages.plugin import PagesPlugin
from web.query_api.audit import AuditController
from web.query_api.couriers import CourierQueriesController
from web.query_api.ops import OpsQueriesController
from web.query_api.orders import OrderQueriesController
from web.query_api.parked import ParkedQueriesController
from web.query_api.products import ProductQueriesController
from web.query_api.push import PushPlugin
from web.query_api.shipments import ShipmentQueriesController
from web.strict_input import MAX_BODY_BYTES

QUERY_CONTROLLERS = [OrderQueriesController, ProductQueriesController, ShipmentQueriesController,
                     CourierQueriesController, AuditController, ParkedQueriesController, OpsQueriesController]


class QueryApiPlugin(InitPluginProtocol):
    """Wires the query handlers and their dependencies onto an app built from the read side."""

    def __init__(self, read: ReadSide) -> None:
        self._read = read

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        pool = self._read.pool
        live_positions = LivePositions(pool)
        app_config.route_handlers.extend(QUERY_CONTROLLERS)
        app_config.dependencies.update({
            "live_positions": constant(live_positions),
            "late_deliveries": constant(LateDeliveries(pool, live_positions)),
            "order_queries": constant(OrderQueries(pool)),
            "product_queries": constant(ProductQueries(pool)),
            "shipment_queries": constant(ShipmentQueries(pool)),
            "courier_queries": constant(CourierQueries(pool)),
            "audit_queries": constant(AuditQueries(pool)),
            "event_store_queries": constant(EventStoreQueries(pool)),
            "parked_queries": constant(ParkedQueries(pool)),
        })
        return app_config


def create_query_api(read: ReadSide, docs_source: SchemaSource | None = None,
                     extra_readiness: Sequence[ReadinessCheck] = ()) -> Litestar:
    """`docs_source`: the document the docs pages show instead of this app's own (the all-in-one run's merged);
    `extra_readiness`: the all-in-one run's supervised loops."""
    app = Litestar(
        logging_config=None,  # the process's own logging (adapters.logging_setup) stays in charge
        request_max_body_size=MAX_BODY_BYTES,
        plugins=[QueryApiPlugin(read), PushPlugin(read), PagesPlugin(read),
                 BaselinePlugin(read.settings.secret, readiness=(
                     database_reachable(read.status), broker_reachable(read.broker),
                     read_models_fresh(read.status, read.settings.ready_max_lag_s), *extra_readiness))],
        openapi_config=OpenAPIConfig(title="Logistics query API", version="0.1.0",
                                     description="Read models, the audit log and live push. Read-only.",
                                     render_plugins=render_plugins(docs_source)),
    )
    document_problems(app, commands=False)
    return app
