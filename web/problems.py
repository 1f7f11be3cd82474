"""Every error as problem+json: domain refusals and client mistakes are 4xx, never 500."""

import logging
from typing import Any

from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)

from commands.errors import AlreadyExists, ConcurrencyConflict, Forbidden, NotFound
from domain.errors import InvalidTransition, InvalidValue
from queries.pagination import InvalidQuery

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://logistics.example/problems/"


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
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            errors.append({"field": _field_name(item.get("key")), "message": item.get("message"),
                           "source": item.get("source")})
    return problem(422 if errors else 400, "validation", "Invalid request", str(exc.detail), errors=errors)


def _field_name(key: object) -> object:
    # msgspec reports paths like "$.items[0].quantity"; clients know the field as "items[0].quantity".
    return key.removeprefix("$.") if isinstance(key, str) else key


def _not_found(exc: NotFound) -> ProblemDetailsException:
    return problem(404, "not-found", f"{exc.kind.capitalize()} not found", str(exc))


def _already_exists(exc: AlreadyExists) -> ProblemDetailsException:
    return problem(409, "already-exists", f"{exc.kind.capitalize()} already exists", str(exc),
                   existing_id=str(exc.entity_id))


def _invalid_transition(exc: InvalidTransition) -> ProblemDetailsException:
    return problem(409, "invalid-state", "Not possible in the current state", str(exc))


def _conflict(exc: ConcurrencyConflict) -> ProblemDetailsException:
    return problem(409, "concurrency-conflict", "Concurrent modification", str(exc))


def _forbidden(exc: Forbidden) -> ProblemDetailsException:
    return problem(403, "forbidden", "Forbidden", str(exc))


def _invalid_query(exc: InvalidQuery) -> ProblemDetailsException:
    # Shaped like a query parameter's validation error, so clients handle a bad cursor or range the same way.
    return problem(422, "invalid-query", "Invalid request", str(exc),
                   errors=[{"field": exc.parameter, "message": exc.message, "source": "query"}])


def _key_reused(exc: IdempotencyKeyReused) -> ProblemDetailsException:
    return problem(422, "idempotency-key-reused", "Idempotency-Key reused with another request", str(exc))


def _in_progress(exc: IdempotentRequestInProgress) -> ProblemDetailsException:
    return problem(409, "idempotent-request-in-progress", "Request with this Idempotency-Key in progress", str(exc))


def _unexpected(exc: Exception) -> ProblemDetailsException:
    if isinstance(exc, HTTPException):
        if exc.status_code >= 500:
            log.error("server error: %s", exc.detail, exc_info=exc)
        return ProblemDetailsException(status_code=exc.status_code, title=exc.detail, extra=exc.extra or None)
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal", "Internal Server Error", "the server failed; the request may be retried")


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(ProblemDetailsConfig(
        enable_for_all_http_exceptions=True,
        exception_to_problem_detail_map={
            ValidationException: _validation,
            InvalidValue: _invalid_value,
            NotFound: _not_found,
            AlreadyExists: _already_exists,
            InvalidTransition: _invalid_transition,
            ConcurrencyConflict: _conflict,
            Forbidden: _forbidden,
            InvalidQuery: _invalid_query,
            IdempotencyKeyReused: _key_reused,
            IdempotentRequestInProgress: _in_progress,
            Exception: _unexpected,
        },
    ))
