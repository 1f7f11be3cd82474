"""What every HTTP app of the platform shares: authentication, problem+json errors, liveness."""

from collections.abc import Sequence
from typing import Any

from litestar import get
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol

from web.auth import jwt_auth
from web.observability import PROMETHEUS, MetricsController, ReadinessCheck, readiness_handler
from web.problems import problem_details_plugin


def constant(value: Any) -> Provide:
    """A dependency that is one object for the app's whole life."""
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


@get("/health/live", operation_id="Live", tags=["health"], sync_to_thread=False, summary="The process is up")
def live() -> dict[str, str]:
    return {"status": "ok"}


class CommonPlugin(InitPluginProtocol):
    """Auth, problem+json errors, health probes and metrics: added once per app, whatever it serves."""

    def __init__(self, secret: str, readiness: Sequence[ReadinessCheck] = ()) -> None:
        self._secret = secret
        self._readiness = readiness

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([live, readiness_handler(self._readiness), MetricsController])
        app_config.middleware.append(PROMETHEUS.middleware)
        app_config.plugins.append(problem_details_plugin())
        return jwt_auth(self._secret).on_app_init(app_config)
