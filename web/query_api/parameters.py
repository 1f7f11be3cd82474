"""Query parameters the query API's operations share, and reading the ones that need it strictly."""

from datetime import UTC, datetime
from typing import Annotated, Final

from litestar.params import QueryParameter

from queries.pagination import MAX_LIMIT, InvalidQuery

CONTEXT_NAME: Final = r"^(?i:orders|inventory|payments|shipping)$"

Cursor = Annotated[str | None, QueryParameter(
    min_length=1, max_length=1024, pattern=r"^[A-Za-z0-9_-]+$",
    description="the `next_cursor` of the page before (opaque: only cursors this API gave out are taken)")]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"items per page, 1 to {MAX_LIMIT}")]


def moment(parameter: str, text: str | None) -> datetime | None:
    """An RFC 3339 time (UTC when it names no offset); the framework alone would also read `0.5` as one."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidQuery(parameter, "must be a time in RFC 3339, such as 2025-03-01T08:00:00Z") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
