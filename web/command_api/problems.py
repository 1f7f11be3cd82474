"""The command services' refusals as problem+json: a missing, duplicate, contended or forbidden target."""

from typing import Final

from litestar.plugins.problem_details import ProblemDetailsException

from commands.errors import AlreadyExists, ConcurrencyConflict, Forbidden, NotFound
from web.problems import ProblemMapping, not_found, problem


def _not_found(exc: NotFound) -> ProblemDetailsException:
    return not_found(exc.kind, str(exc))


def _already_exists(exc: AlreadyExists) -> ProblemDetailsException:
    return problem(409, "already-exists", f"{exc.kind.capitalize()} already exists", str(exc),
                   existing_id=str(exc.entity_id))


def _conflict(exc: ConcurrencyConflict) -> ProblemDetailsException:
    return problem(409, "concurrency-conflict", "Concurrent modification", str(exc))


def _forbidden(exc: Forbidden) -> ProblemDetailsException:
    return problem(403, "forbidden", "Forbidden", str(exc))


COMMAND_PROBLEMS: Final[ProblemMapping] = {
    NotFound: _not_found,
    AlreadyExists: _already_exists,
    ConcurrencyConflict: _conflict,
    Forbidden: _forbidden,
}
