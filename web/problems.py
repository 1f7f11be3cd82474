"""Every error as problem+json: domain refusals and client mistakes are 4xx, never 500."""

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import psycopg
import psycopg_pool
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)

from domain.errors import InvalidTransition, InvalidValue
from queries.errors import NotFound
from queries.pagination import InvalidQuery

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://logistics.example/problems/"
RETRY_AFTER_S: Final = 2
"""What a client is told to wait before retrying while the database is unreachable."""

# The problem type of a plain HTTP error, by status, so that every answer has one.
_STATUS_SLUGS: Final = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
                        405: "method-not-allowed", 406: "not-acceptable", 409: "conflict", 413: "too-large",
                        415: "unsupported-media-type", 422: "validation", 429: "too-many-requests",
                        503: "unavailable"}
_MISSING_PARAMETER: Final = re.compile(r"Missing required (?:query|header|cookie|path) parameter '([^']+)'")

DATABASE_UNAVAILABLE: Final = (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout,
                               StoreOperationalError, StoreInterfaceError)
"""Errors that mean the database cannot be reached now (down, restarting, or out of connections)."""


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came with a different request."""


class IdempotentRequestInProgress(Exception):
    """The first request with this Idempotency-Key has not finished yet."""


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> ProblemDetailsException:
    return ProblemDetailsException(status_code=status, type_=PROBLEM_BASE + slug, title=title, detail=detail,
                                   extra=extra or None)


def _invalid_value(exc: InvalidValue) -> ProblemDetailsException:
    return problem(422, "invalid-value", "Invalid request", str(exc),
                   errors=[{"field": exc.field, "message": exc.message}])


def _validation(exc: ValidationException) -> ProblemDetailsException:
    """A parameter that is missing or invalid is 422 naming it; a body that cannot be read at all is 400."""
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            errors.append({"field": _field_name(item.get("key")), "message": item.get("message"),
                           "source": item.get("source")})
    missing = _MISSING_PARAMETER.search(str(exc.detail))
    if missing and not errors:
        errors.append({"field": missing.group(1), "message": "is required", "source": "query"})
    if errors:
        return problem(422, "validation", "Invalid request", str(exc.detail), errors=errors)
    return problem(400, "malformed-request", "Malformed request", str(exc.detail))


def _field_name(key: object) -> object:
    # msgspec reports paths like "$.items[0].quantity"; clients know the field as "items[0].quantity".
    return key.removeprefix("$.") if isinstance(key, str) else key


def not_found(kind: str, detail: str) -> ProblemDetailsException:
    return problem(404, "not-found", f"{kind.capitalize()} not found", detail)


def _not_found(exc: NotFound) -> ProblemDetailsException:
    return not_found(exc.kind, str(exc))


def _invalid_transition(exc: InvalidTransition) -> ProblemDetailsException:
    return problem(409, "invalid-state", "Not possible in the current state", str(exc))


def _invalid_query(exc: InvalidQuery) -> ProblemDetailsException:
    # Shaped like a query parameter's validation error, so clients handle a bad cursor or range the same way.
    return problem(422, "invalid-query", "Invalid request", str(exc),
                   errors=[{"field": exc.parameter, "message": exc.message, "source": "query"}])


def _key_reused(exc: IdempotencyKeyReused) -> ProblemDetailsException:
    return problem(422, "idempotency-key-reused", "Idempotency-Key reused with another request", str(exc))


def _in_progress(exc: IdempotentRequestInProgress) -> ProblemDetailsException:
    return problem(409, "idempotent-request-in-progress", "Request with this Idempotency-Key in progress", str(exc))


def _unauthenticated(exc: NotAuthorizedException) -> ProblemDetailsException:
    detail = str(exc.detail) if exc.detail and exc.detail != "Unauthorized" else "a valid bearer token is needed"
    return ProblemDetailsException(status_code=401, type_=PROBLEM_BASE + "unauthenticated", title="Unauthenticated",
                                   detail=detail, headers={"WWW-Authenticate": "Bearer"})


def database_unavailable(exc: Exception) -> ProblemDetailsException:
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return ProblemDetailsException(
        status_code=503, type_=PROBLEM_BASE + "unavailable", title="Service unavailable",
        detail="the database cannot be reached right now; retry shortly", headers={"Retry-After": str(RETRY_AFTER_S)})


def _http_problem(exc: HTTPException) -> ProblemDetailsException:
    if exc.status_code >= 500:
        log.error("server error: %s", exc.detail, exc_info=exc)
    slug = _STATUS_SLUGS.get(exc.status_code, "error")
    return ProblemDetailsException(status_code=exc.status_code, type_=PROBLEM_BASE + slug, title=exc.detail,
                                   extra=exc.extra or None, headers=exc.headers)


def _unexpected(exc: Exception) -> ProblemDetailsException:
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return database_unavailable(exc)
    if isinstance(exc, HTTPException):
        return _http_problem(exc)
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal", "Internal Server Error", "the server failed; the request may be retried")


ProblemMapping = Mapping[type[Exception], Callable[[Any], ProblemDetailsException]]
"""How an app's own exceptions become problems (the command API adds its services' refusals)."""


def problem_details_plugin(more: ProblemMapping | None = None) -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(ProblemDetailsConfig(
        enable_for_all_http_exceptions=True,
        exception_to_problem_detail_map={
            **(more or {}),
            HTTPException: _http_problem,
            ValidationException: _validation,
            NotAuthorizedException: _unauthenticated,
            InvalidValue: _invalid_value,
            NotFound: _not_found,
            InvalidTransition: _invalid_transition,
            InvalidQuery: _invalid_query,
            IdempotencyKeyReused: _key_reused,
            IdempotentRequestInProgress: _in_progress,
            Exception: _unexpected,
        },
    ))
