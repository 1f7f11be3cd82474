"""Per-request plumbing for commands: the request id, and the correlation every event will carry."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

from litestar import Request

from domain.base import message_context
from domain.identity import Actor

REQUEST_ID_HEADER = "X-Request-ID"


def request_id(request: Request[Any, Any, Any]) -> str:
    """The caller's request id when it sent a sane one, else a fresh one; kept for the whole request."""
    known = request.scope.get("state", {}).get("request_id")
    if isinstance(known, str):
        return known
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    value = sent if 0 < len(sent) <= 128 and sent.isprintable() else str(uuid4())
    request.scope.setdefault("state", {})["request_id"] = value
    return value


@contextmanager
def command_context(request: Request[Any, Any, Any], correlation_id: UUID | str | None = None) -> Iterator[None]:
    """Events recorded inside are correlated with the order they concern (else the request) and caused by it."""
    causation = f"request:{request_id(request)}"
    with message_context(str(correlation_id) if correlation_id else causation, causation):
        yield


def actor_of(request: Request[Any, Any, Any]) -> Actor:
    actor = request.user
    if not isinstance(actor, Actor):  # the auth middleware guarantees this for every non-public route
        raise TypeError("request has no authenticated actor")
    return actor
