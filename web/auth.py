"""Bearer-token authentication and role guards shared by the APIs."""

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTCookieAuth, Token
from litestar.types import Guard

from adapters.tokens import ALGORITHM
from commands.actor import Actor, Role

PUBLIC_PATHS = ["^/schema", "^/health", "^/metrics", "^/static", "^/login", "^/logout", "^/$"]
TOKEN_COOKIE = "logistics_token"


async def _actor_from_token(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Actor | None:
    role = token.extras.get("role")
    if role not in Role._value2member_map_:
        return None  # a token without a known role authenticates nobody: 401
    return Actor(role=Role(str(role)), subject=token.sub)


def jwt_auth(secret: str) -> JWTCookieAuth[Actor, Token]:
    """A bearer token in the Authorization header (API clients) or in an HttpOnly cookie (the web pages).

    The cookie is SameSite=Strict, so another site cannot make a browser send it with a forged request.
    """
    return JWTCookieAuth[Actor, Token](
        retrieve_user_handler=_actor_from_token,
        token_secret=secret,
        algorithm=ALGORITHM,
        exclude=PUBLIC_PATHS,
        key=TOKEN_COOKIE,
        samesite="strict",
    )


def requires(*roles: Role) -> Guard:
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        actor = connection.user
        if not isinstance(actor, Actor) or actor.role not in allowed:
            names = " or ".join(sorted(role.value for role in allowed))
            raise PermissionDeniedException(f"this needs the {names} role")

    return guard
