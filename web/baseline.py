"""What every HTTP app of the platform shares: authentication, problem+json errors, liveness."""

from collections.abc import Sequence
from typing import Any, Final

from litestar import get
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol

from web.allow_header import complete_allow_header
from web.auth import token_authentication
from web.observability import PROMETHEUS, MetricsController, ReadinessCheck, readiness_handler
from web.problems import ProblemMapping, problem_details_plugin
from web.strict_input import refuse_hostile_input

BEARER_TOKEN: Final = "BearerToken"
BEARER_TOKEN_SCHEME: Final = SecurityScheme(
    type="http", scheme="bearer", bearer_format="JWT",
    description="A JWT from `logistics token` (or a courier's registration), sent as `Authorization: Bearer "
                "<token>`. The web pages send the same token in their HttpOnly cookie.")


def constant(value: Any) -> Provide:
    """A dependency that is one object for the app's whole life."""
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


@get("/health/live", operation_id="Live", tags=["health"], sync_to_thread=False, summary="The process is up",
     security=[])
def live() -> dict[str, str]:
    return {"status": "ok"}


class BaselinePlugin(InitPluginProtocol):
    """Auth, problem+json errors, health probes and metrics: added once per app, whatever it serves."""

    def __init__(self, secret: str, readiness: Sequence[ReadinessCheck] = (),
                 problems: ProblemMapping | None = None) -> None:
        self._secret = secret
        self._readiness = readiness
        self._problems = problems

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([live, readiness_handler(self._readiness), MetricsController])
        app_config.middleware.extend([PROMETHEUS.middleware, token_authentication(self._secret)])
        app_config.plugins.append(problem_details_plugin(self._problems))
        app_config.before_request = refuse_hostile_input
        app_config.before_send.append(complete_allow_header)
        if app_config.openapi_config is not None:
            openapi = app_config.openapi_config
            components = openapi.components if isinstance(openapi.components, Components) else Components()
            components.security_schemes = {**(components.security_schemes or {}), BEARER_TOKEN: BEARER_TOKEN_SCHEME}
            openapi.components = components
            openapi.security = [{BEARER_TOKEN: []}]
        return app_config
