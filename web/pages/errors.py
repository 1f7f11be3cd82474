"""Errors on the pages are pages too: a browser gets HTML, a login redirect, never a problem+json body."""

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.plugins.htmx import ClientRedirect
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from queries.pagination import InvalidQuery

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"


class PageNotFound(Exception):
    """What the page is about does not exist, or is not this user's to see (which must look the same)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("HX-Request") == "true"


def _error_page(request: Request[Any, Any, Any], status: int, title: str, detail: str) -> Template:
    user = request.scope.get("user")
    return Template(template_name="error.html", status_code=status,
                    context={"status": status, "title": title, "detail": detail, "actor": user,
                             "path": request.url.path})


def _not_signed_in(request: Request[Any, Any, Any], _: Exception) -> Response[Any]:
    # A fragment request whose session expired would otherwise swap a login page into a table cell.
    if _is_htmx(request):
        return ClientRedirect(LOGIN_PATH)
    return Redirect(LOGIN_PATH)


def _forbidden(request: Request[Any, Any, Any], exc: Exception) -> Template:
    return _error_page(request, 403, "Not for your role", "This page belongs to another role. "
                       "Sign in as someone else, or go back to your own pages.")


def _not_found(request: Request[Any, Any, Any], exc: Exception) -> Template:
    what = exc.what if isinstance(exc, PageNotFound) else "page"
    return _error_page(request, 404, f"{what.capitalize()} not found",
                       f"There is no {what} here, or it is not yours to see.")


def _bad_request(request: Request[Any, Any, Any], exc: Exception) -> Template:
    detail = f"{exc.parameter}: {exc.message}" if isinstance(exc, InvalidQuery) \
        else "Some of the parameters are not valid."
    return _error_page(request, 400, "Bad request", detail)


def _http_error(request: Request[Any, Any, Any], exc: Exception) -> Template:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status >= 500:
        log.error("page %s failed", request.url.path, exc_info=exc)
    detail = exc.detail if isinstance(exc, HTTPException) else ""
    return _error_page(request, status, "Something went wrong" if status >= 500 else "Request refused", detail)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Template:
    log.exception("page %s failed", request.url.path, exc_info=exc)
    return _error_page(request, 500, "Something went wrong", "The server failed; try again in a moment.")


PAGE_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    NotAuthorizedException: _not_signed_in,
    PermissionDeniedException: _forbidden,
    PageNotFound: _not_found,
    NotFoundException: _not_found,
    ValidationException: _bad_request,
    InvalidQuery: _bad_request,
    HTTPException: _http_error,
    Exception: _unexpected,
}
