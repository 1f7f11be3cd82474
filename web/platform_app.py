"""Both APIs behind one port, for the all-in-one run.

Litestar cannot hold two controllers on one path (each brings its own OPTIONS handler), and the two APIs
share paths such as `/api/orders` (POST to place, GET to list). So the two apps stay separate and this small
ASGI app sends each request to the one that serves its method and path: the command API's own routes go
there, everything else (reads, push, pages, docs) to the query API. Lifespan events reach both. The
command API's OpenAPI documents are under `/schema/commands`, the query API's under `/schema`.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from litestar import Litestar

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PARAMETER = re.compile(r"\{[^}]+\}")


def _route_table(app: Litestar) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    table = []
    for route in app.routes:
        methods = frozenset(method for method in getattr(route, "methods", ()) if method != "OPTIONS")
        if methods and route.path not in ("/health/live", "/health/ready"):
            pattern = PARAMETER.sub("[^/]+", re.escape(route.path).replace(r"\{", "{").replace(r"\}", "}"))
            table.append((re.compile(f"^{pattern}/?$"), methods))
    return table


class PlatformApp:
    def __init__(self, command_api: Litestar, query_api: Litestar) -> None:
        self.command_api = command_api
        self.query_api = query_api
        self._command_routes = _route_table(command_api)

    def _serves_command(self, method: str, path: str) -> bool:
        return any(method in methods and pattern.match(path) for pattern, methods in self._command_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "http" and self._serves_command(scope["method"], scope["path"]):
            await self.command_api(scope, receive, send)  # type: ignore[arg-type]
        else:
            await self.query_api(scope, receive, send)  # type: ignore[arg-type]

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward each lifespan message to both apps, and answer once both have."""
        apps = (self.command_api, self.query_api)
        inboxes: list[asyncio.Queue[Message]] = [asyncio.Queue() for _ in apps]
        outboxes: list[asyncio.Queue[Message]] = [asyncio.Queue() for _ in apps]
        tasks = [asyncio.create_task(app(dict(scope), inbox.get, outbox.put))  # type: ignore[arg-type]
                 for app, inbox, outbox in zip(apps, inboxes, outboxes, strict=True)]
        try:
            while True:
                message = await receive()
                for inbox in inboxes:
                    await inbox.put(message)
                answers = [await outbox.get() for outbox in outboxes]
                failed = next((answer for answer in answers if answer["type"].endswith(".failed")), None)
                await send(failed or answers[0])
                if message["type"] == "lifespan.shutdown" or failed:
                    return
        finally:
            for task in tasks:
                task.cancel()
