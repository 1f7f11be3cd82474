"""Signing in and out of the web pages: the bearer token kept in an HttpOnly, SameSite=Strict cookie.

In demo mode anyone may pick a ready-made identity (a demo customer, a registered courier, the operator);
otherwise the login takes a token issued by `logistics token` (or, for a courier, by its registration) and
keeps it only once it checks out against the signing secret.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Response, get, post, route
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import HttpMethod
from litestar.params import URLEncodedBody
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from web.auth import TOKEN_COOKIE, TokenRejected, actor_from_token, verify_token
from web.pages.reads import PageReads
from web.pages.rendering import render
from web.pages.views import natural_key

DEMO_CUSTOMERS: Final = tuple(f"demo-customer-{n}" for n in range(1, 7))
"""The customers `logistics demo` places its orders as (its default `customers`), so each can be watched."""
DEMO_OPERATOR: Final = "ops"
DEMO_LIFETIME: Final = timedelta(hours=12)
HOMES: Final = {"customer": "/shop", "admin": "/ops/dashboard", "courier": "/courier"}


class LoginForm(msgspec.Struct, frozen=True):
    role: str = ""
    subject: str = ""
    token: str = ""


def _courier_name(courier: dict[str, Any]) -> tuple[Any, ...]:
    return natural_key(str(courier.get("name", "")))


def role_home(role: str) -> str:
    return HOMES.get(role, "/login")


def signed_in_role(request: HTMXRequest, secret: str) -> str | None:
    """The role of the cookie's token on a public page, where the auth middleware does not run."""
    cookie = request.cookies.get(TOKEN_COOKIE)
    if not cookie:
        return None
    try:
        return actor_from_token(secret, cookie).role.value
    except TokenRejected:
        return None  # an expired or foreign cookie: shown as signed out, the login replaces it


def _session_cookie(token: str, max_age: int) -> Cookie:
    # HttpOnly: page scripts never see the token. Strict: no other site can make the browser send it.
    return Cookie(key=TOKEN_COOKIE, value=token, path="/", httponly=True, samesite="strict", max_age=max_age)


def _same_origin(request: HTMXRequest) -> bool:
    """Refuse a login posted from another site's page, which could sign a visitor in as someone else."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("Host", "")


class SessionPages(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=False)
    def home(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Redirect:
        role = signed_in_role(request, pages.secret)
        return Redirect(role_home(role) if role else "/login", status_code=HTTP_303_SEE_OTHER)

    @get("/login", sync_to_thread=True)
    def login_page(self, request: HTMXRequest, pages: NamedDependency[PageReads]) -> Template:
        return self._login(request, pages)

    @post("/login", sync_to_thread=True, status_code=HTTP_303_SEE_OTHER)
    def login(
        self, request: HTMXRequest, pages: NamedDependency[PageReads],
        data: URLEncodedBody[LoginForm],
    ) -> Response[Any]:
        form = data
        if not _same_origin(request):
            return self._login(request, pages, error="This sign-in did not come from this site's login page.",
                               status_code=403)
        if form.token.strip():
            try:
                verified = verify_token(form.token.strip(), pages.secret)
            except TokenRejected as rejected:
                return self._login(request, pages, error=f"That token is not valid here: {rejected.detail}.",
                                   status_code=400)
            remaining = int((verified.expires_at - datetime.now(UTC)).total_seconds())
            return self._signed_in(form.token.strip(), verified.actor.role.value, max(remaining, 1))
        if not pages.demo:
            return self._login(request, pages, error="Paste a token to sign in.", status_code=400)
        if not self._demo_identity_exists(pages, form.role, form.subject):
            return self._login(request, pages, error="Pick one of the demo identities below.", status_code=400)
        token_text = pages.tokens.issue(form.role, form.subject, DEMO_LIFETIME)
        return self._signed_in(token_text, form.role, int(DEMO_LIFETIME.total_seconds()))

    @route("/logout", http_method=[HttpMethod.GET, HttpMethod.POST], sync_to_thread=False,
           status_code=HTTP_303_SEE_OTHER)
    def logout(self) -> Redirect:
        response = Redirect("/login", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(TOKEN_COOKIE, path="/")
        return response

    @staticmethod
    def _demo_identity_exists(pages: PageReads, role: str, subject: str) -> bool:
        if role == "customer":
            return subject in DEMO_CUSTOMERS
        if role == "admin":
            return subject == DEMO_OPERATOR
        if role == "courier":
            return any(courier.get("id") == subject for courier in pages.all_couriers())
        return False

    @staticmethod
    def _signed_in(token: str, role: str, max_age: int) -> Redirect:
        return Redirect(role_home(role), status_code=HTTP_303_SEE_OTHER, cookies=[_session_cookie(token, max_age)])

    @staticmethod
    def _login(request: HTMXRequest, pages: PageReads, *, error: str | None = None,
               status_code: int = 200) -> Template:
        return render(request, "login.html", status_code=status_code, demo=pages.demo, error=error,
                      customers=DEMO_CUSTOMERS, operator=DEMO_OPERATOR,
                      couriers=sorted(pages.all_couriers(), key=_courier_name) if pages.demo else [],
                      signed_in_as=signed_in_role(request, pages.secret))
