"""An OPTIONS answer lists every method its path serves.

Litestar 2 builds a path's automatic OPTIONS answer before all of the path's handlers are registered, so it
names only some of them (litestar#4169, fixed in Litestar 3). This hook rewrites the `Allow` header from the
app's own route table just before the answer is sent.
"""

from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope


async def complete_allow_header(message: Message, scope: Scope) -> None:
    """Litestar's before-send hook."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    handler: Any = scope.get("route_handler")
    app: Any = scope.get("litestar_app")
    if handler is None or app is None:
        return
    methods: set[str] = set()
    for path in getattr(handler, "paths", ()):
        methods.update(app.route_handler_method_map.get(path, {}))
    if methods:
        MutableScopeHeaders.from_message(message)["Allow"] = ", ".join(sorted(methods))
