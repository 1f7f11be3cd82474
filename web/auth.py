"""Bearer tokens in, actors out: the one place a token is read and checked, and the role guards.

A token comes in the `Authorization` header under the `Bearer` scheme (the name in any case; no other
scheme is taken), in the web pages' HttpOnly cookie, or, where a browser cannot send a header (WebSocket,
EventSource), as `?token=`. Whatever the transport, `verify_token` decides (it is the only code that decodes a
token), and a refusal is a `TokenRejected` saying why. Callers that want only the actor use `actor_from_token`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import jwt
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AuthenticationResult
from litestar.middleware.authentication import AbstractAuthenticationMiddleware
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp, Guard

from adapters.tokens import ALGORITHM
from domain.identity import Actor, Role

PUBLIC_PATHS: Final = ("^/schema", "^/health", "^/metrics", "^/static", "^/login", "^/logout", "^/$")
TOKEN_COOKIE: Final = "logistics_token"
BEARER: Final = "bearer"


class TokenRejected(NotAuthorizedException):
    """A token was presented and is not good here; the message says why, for the client to act on."""


@dataclass(frozen=True)
class VerifiedToken:
    actor: Actor
    expires_at: datetime


def verify_token(encoded: str, secret: str) -> VerifiedToken:
    """The actor a token speaks for; raises TokenRejected naming what is wrong with it."""
    try:
        claims = jwt.decode(encoded, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise TokenRejected("the token has expired; get a new one") from None
    except jwt.InvalidSignatureError:
        raise TokenRejected("the token was signed with another key: it was minted for another deployment "
                            "(another LOGISTICS_SECRET or data directory)") from None
    except jwt.InvalidAlgorithmError:
        raise TokenRejected(f"the token must be signed with {ALGORITHM}") from None
    except jwt.MissingRequiredClaimError as error:
        raise TokenRejected(f"the token lacks the {error.claim!r} claim") from None
    except jwt.InvalidTokenError:
        raise TokenRejected("not a token this platform issues (a signed JWT)") from None
    role, subject = claims.get("role"), claims.get("sub")
    if role not in Role._value2member_map_:
        raise TokenRejected("the token names no known role (customer, courier or admin)")
    if not isinstance(subject, str) or not subject:
        raise TokenRejected("the token names no subject")
    return VerifiedToken(Actor(role=Role(str(role)), subject=subject), datetime.fromtimestamp(claims["exp"], UTC))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None without the header."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != BEARER or not token.strip():
        raise TokenRejected("the Authorization header must be `Bearer <token>`")
    return token.strip()


def presented_token(connection: ASGIConnection[Any, Any, Any, Any], query_token: str | None = None) -> str | None:
    """The token from the query string, the Authorization header or the web pages' cookie, in that order."""
    return (query_token or bearer_token(connection.headers.get("Authorization"))
            or connection.cookies.get(TOKEN_COOKIE) or None)


def actor_from_token(secret: str, encoded: str) -> Actor:
    """The actor a token speaks for; raises TokenRejected naming what is wrong with it."""
    return verify_token(encoded, secret).actor


class TokenAuthentication(AbstractAuthenticationMiddleware):
    """Sets `request.user` to the caller's Actor on every non-public route, or answers 401 with the reason."""

    def __init__(self, app: ASGIApp, secret: str, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude)
        self._secret = secret

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        encoded = presented_token(connection)
        if encoded is None:
            raise NotAuthorizedException("a bearer token is needed: `Authorization: Bearer <token>`")
        return AuthenticationResult(user=actor_from_token(self._secret, encoded), auth=None)


def token_authentication(secret: str) -> DefineMiddleware:
    return DefineMiddleware(TokenAuthentication, secret=secret, exclude=list(PUBLIC_PATHS))


def requires(*roles: Role) -> Guard:
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # the framework's own answer, naming the allowed methods: no token involved, nothing revealed
        actor = connection.user
        if not isinstance(actor, Actor) or actor.role not in allowed:
            names = " or ".join(sorted(role.value for role in allowed))
            raise PermissionDeniedException(f"this needs the {names} role")

    return guard
