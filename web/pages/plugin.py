"""The web pages as one plugin on the query API: templates, htmx, the vendored static assets, and the routes."""

from litestar import Router
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from composition.read_side import ReadSide
from web.baseline import constant
from web.pages.audit import AuditPages
from web.pages.courier import CourierPages
from web.pages.customer import CustomerPages, OrderTrackingPages
from web.pages.errors import PAGE_EXCEPTION_HANDLERS
from web.pages.operator import OperatorPages
from web.pages.reads import PageReads
from web.pages.rendering import STATIC_DIR, template_engine
from web.pages.session import SessionPages

PAGE_CONTROLLERS = [SessionPages, CustomerPages, OrderTrackingPages, OperatorPages, AuditPages, CourierPages]


class PagesPlugin(InitPluginProtocol):
    """Server-rendered pages for customers, couriers and operators; they only read, as the query API does."""

    def __init__(self, read: ReadSide) -> None:
        self._read = read

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        pages = Router(
            path="/",
            route_handlers=PAGE_CONTROLLERS,
            # The pages' errors are pages (and a missing login a redirect), not the API's problem+json.
            exception_handlers=PAGE_EXCEPTION_HANDLERS,
            dependencies={"pages": constant(PageReads.of(self._read))},
            include_in_schema=False,
        )
        static = create_static_files_router(path="/static", directories=[STATIC_DIR], name="static",
                                            include_in_schema=False)
        app_config.route_handlers.extend([pages, static])
        app_config.template_config = TemplateConfig(instance=template_engine())
        app_config.plugins.append(HTMXPlugin())
        return app_config
