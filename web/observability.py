"""Health probes and metrics for every HTTP app of the platform."""

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from litestar import Response, get
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.metrics import COMMANDS, command_outcome

ReadinessCheck = Callable[[], str | None]
"""None when ready; otherwise why not."""


class Readiness(msgspec.Struct, frozen=True):
    status: str
    """`ready` or `unavailable`."""
    problems: list[str] | None = None

PROMETHEUS = PrometheusConfig(app_name="logistics", prefix="logistics_http", group_path=True,
                              exclude=["^/metrics", "^/health"])


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def readiness_handler(checks: Sequence[ReadinessCheck]) -> Any:
    @get("/health/ready", operation_id="Ready", tags=["health"], sync_to_thread=True, security=[],
         responses={200: ResponseSpec(Readiness, description="Every dependency is reachable", generate_examples=False),
                    503: ResponseSpec(Readiness, description="Not ready; `problems` says why",
                                      generate_examples=False)},
         summary="Ready to serve: every dependency reachable")
    def ready() -> Response[dict[str, Any]]:
        problems = [problem for check in checks if (problem := check()) is not None]
        if problems:
            return Response({"status": "unavailable", "problems": problems}, status_code=503)
        return Response({"status": "ready"}, status_code=200)

    return ready


class CommandMetricsMiddleware(ASGIMiddleware):
    """Counts each command (the handler's operation id) by outcome: accepted, rejected (4xx) or failed (5xx)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, capture)
        finally:
            handler = scope.get("route_handler")
            operation = getattr(handler, "operation_id", None) if handler is not None else None
            if isinstance(operation, str) and scope.get("method") != "GET":
                COMMANDS.labels(command=operation, outcome=command_outcome(status)).inc()
