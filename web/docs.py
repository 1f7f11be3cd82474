"""The API documentation pages (Swagger UI, ReDoc, Stoplight Elements, RapiDoc) from vendored assets.

Litestar's own render plugins load their scripts, styles, fonts and favicon from CDNs, so without internet the
pages stay white. These are the same plugins pointed at the copies under `web/static/vendor/` (see its
README for versions and licences), with web fonts off.

In the all-in-one run both APIs answer on one port: there every page documents the two together, from one
document merged from both apps' own (`/schema/platform.json`); each API's own document stays where it was
(`/schema/openapi.json` for the queries, `/schema/commands/openapi.json` for the commands).
"""

from collections.abc import Callable, Sequence
from typing import Any, Final

from litestar import Litestar, Request
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RapidocRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from web.pages.rendering import STATIC_DIR

ASSETS: Final = "/static/vendor"
FAVICON: Final = (
    "<link rel='icon' type='image/svg+xml' href='/static/favicon.svg'>"
    # The bundles still name a few outside images (ReDoc's "by Redocly" logo): the browser asks nothing of
    # any other site for these pages, online or not.
    "<meta http-equiv='Content-Security-Policy' content=\"img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'\">"
)
"""Goes where Litestar's plugins put the favicon: in each docs page's head."""
PLATFORM_DOCUMENT: Final = "platform.json"

SchemaSource = Callable[[], dict[str, Any]]
"""Where a page takes its OpenAPI document from, when it is not the app's own (the merged one)."""


class _Merged:
    """Renders the merged document instead of the app's own when one is given."""

    source: SchemaSource | None = None

    def _schema(self, own: dict[str, Any]) -> dict[str, Any]:
        return self.source() if self.source is not None else own


class LocalSwagger(_Merged, SwaggerRenderPlugin):
    def __init__(self, source: SchemaSource | None = None) -> None:
        super().__init__(js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
                         css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
                         standalone_preset_js_url=f"{ASSETS}/swagger-ui/swagger-ui-standalone-preset.js",
                         path="/swagger", favicon=FAVICON)
        self.source = source

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self._schema(openapi_schema))


class LocalRedoc(_Merged, RedocRenderPlugin):
    def __init__(self, source: SchemaSource | None = None) -> None:
        super().__init__(js_url=f"{ASSETS}/redoc/redoc.standalone.js", google_fonts=False, path="/redoc",
                         favicon=FAVICON)
        self.source = source

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self._schema(openapi_schema))


class _SpecUrl:
    """The pages that fetch the document by URL get the merged one's URL when there is one."""

    source: SchemaSource | None = None

    def get_openapi_json_route(self, request: Request[Any, Any, Any]) -> str:
        if self.source is not None:
            return f"{_schema_root(request)}/{PLATFORM_DOCUMENT}"
        return OpenAPIRenderPlugin.get_openapi_json_route(request)


def _schema_root(request: Request[Any, Any, Any]) -> str:
    """`/schema`, wherever this app's documents are: its own JSON document's folder."""
    return OpenAPIRenderPlugin.get_openapi_json_route(request).rsplit("/", 1)[0]


class LocalElements(_SpecUrl, StoplightRenderPlugin):
    def __init__(self, source: SchemaSource | None = None) -> None:
        super().__init__(js_url=f"{ASSETS}/elements/web-components.min.js",
                         css_url=f"{ASSETS}/elements/styles.min.css", path="/elements", favicon=FAVICON)
        self.source = source


class LocalRapidoc(_SpecUrl, RapidocRenderPlugin):
    def __init__(self, source: SchemaSource | None = None) -> None:
        super().__init__(js_url=f"{ASSETS}/rapidoc/rapidoc-min.js", path="/rapidoc", favicon=FAVICON)
        self.source = source

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        # RapiDoc fetches Open Sans from Google unless told not to; the system's fonts read as well.
        return super().render(request, openapi_schema).replace(b"<rapi-doc ", b'<rapi-doc load-fonts="false" ', 1)


class PlatformDocument(JsonRenderPlugin):
    """`/schema/platform.json`: the merged document the all-in-one run's pages show."""

    def __init__(self, source: SchemaSource) -> None:
        super().__init__(path=f"/{PLATFORM_DOCUMENT}")
        self.source = source

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, self.source())


def render_plugins(source: SchemaSource | None = None) -> Sequence[OpenAPIRenderPlugin]:
    """The pages, Swagger UI first (it is also `/schema` itself), then the documents as JSON and YAML."""
    plugins: list[OpenAPIRenderPlugin] = [
        LocalSwagger(source), LocalRedoc(source), LocalElements(source), LocalRapidoc(source),
        JsonRenderPlugin(), YamlRenderPlugin(),
    ]
    if source is not None:
        plugins.append(PlatformDocument(source))
    return plugins


def docs_assets_router() -> ControllerRouterHandler:
    """`/static/vendor/...` for an app that serves no pages (the command API alone), so its docs render too."""
    return create_static_files_router(path=ASSETS, directories=[STATIC_DIR / "vendor"], name="docs_assets",
                                      include_in_schema=False)


def merge_documents(first: dict[str, Any], second: dict[str, Any], *, title: str, description: str) -> dict[str, Any]:
    """One OpenAPI document of two apps on one port: their paths' operations side by side, components joined."""
    merged: dict[str, Any] = {**first, "info": {**first.get("info", {}), "title": title, "description": description}}
    paths: dict[str, Any] = {}
    for document in (first, second):
        for path, operations in (document.get("paths") or {}).items():
            paths.setdefault(path, {}).update(operations)
    merged["paths"] = dict(sorted(paths.items()))
    components: dict[str, Any] = {}
    for document in (first, second):
        for kind, entries in (document.get("components") or {}).items():
            components.setdefault(kind, {}).update(entries)
    merged["components"] = components
    tags = {tag["name"]: tag for document in (first, second) for tag in document.get("tags") or []}
    if tags:
        merged["tags"] = list(tags.values())
    return merged


class PlatformSchema:
    """The merged document of the command and the query API, built once both apps exist, then kept."""

    def __init__(self) -> None:
        self._apps: tuple[Litestar, Litestar] | None = None
        self._document: dict[str, Any] | None = None

    def attach(self, command_api: Litestar, query_api: Litestar) -> None:
        self._apps = (command_api, query_api)

    def __call__(self) -> dict[str, Any]:
        if self._document is None:
            if self._apps is None:
                raise RuntimeError("the platform's apps are not attached yet")
            command_api, query_api = self._apps
            self._document = merge_documents(
                query_api.openapi_schema.to_schema(), command_api.openapi_schema.to_schema(),
                title="Logistics platform API",
                description="Commands (POST, PATCH, DELETE) and queries (GET, push) of the whole platform, "
                            "as `logistics run` serves them on one port. Authenticate with a bearer token "
                            "from `logistics token`, or sign in on the web pages (the cookie goes along).")
        return self._document
