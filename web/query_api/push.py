"""Live push wiring: the plugin that gives the query app its WebSocket and SSE endpoints, fed from the broker
(view changes, and the couriers' positions).

The parts, each in its own module: ``push_feed`` (the process's one subscription to the broker's view changes,
fanned out by ``queries.push_hub``), ``push_context`` (what the transports share, and who may watch an order),
``push_socket`` and ``push_socket_session`` (the WebSocket endpoints and their protocol), ``push_status`` and
``push_sse`` (an order's status changes, and their Server-Sent Events), ``push_redaction`` (no `?token=` in
the logs).
"""

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from composition.read_side import ReadSide
from queries.push import PushQueries
from queries.push_hub import DEFAULT_CAPACITY, PushHub
from web.baseline import constant
from web.query_api.push_context import PushContext
from web.query_api.push_feed import BINDING_KEYS, POSITION_BINDING, PushFeed
from web.query_api.push_redaction import redact_query_tokens
from web.query_api.push_socket import fleet_socket, order_socket, push_socket
from web.query_api.push_sse import order_status_stream


class PushPlugin(InitPluginProtocol):
    """The push endpoints, their shared context, and the broker subscription's lifespan."""

    def __init__(self, read: ReadSide, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.hub = PushHub(capacity=capacity)
        self.feed = PushFeed(read.broker, self.hub, binding_keys=(*BINDING_KEYS, POSITION_BINDING))
        self.context = PushContext(hub=self.hub, queries=PushQueries(read.pool), feed=self.feed,
                                   secret=read.settings.secret)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([order_socket, push_socket, fleet_socket, order_status_stream])
        app_config.dependencies["push"] = constant(self.context)
        app_config.lifespan.append(self.feed.lifespan)
        redact_query_tokens()
        return app_config
