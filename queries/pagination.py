"""Cursor pagination: a page of rows and an opaque cursor that resumes right after its last row."""

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

T = TypeVar("T")
R = TypeVar("R")

MAX_LIMIT = 200


class InvalidQuery(ValueError):
    """A query parameter no answer can be given for: the client's mistake (4xx), naming the parameter."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


class InvalidCursor(InvalidQuery):
    def __init__(self, message: str = "not a cursor this API gave out") -> None:
        super().__init__("cursor", message)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(part) for part in key]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor() from None
    if not isinstance(key, list) or len(key) != parts or not all(isinstance(part, str) for part in key):
        raise InvalidCursor()
    if any("\x00" in part for part in key):
        raise InvalidCursor()
    return key


def text_parameter(parameter: str, value: str) -> str:
    """A text filter as it can reach SQL: PostgreSQL text cannot hold NUL, and the driver would fail on it."""
    if "\x00" in value:
        raise InvalidQuery(parameter, "must not contain a NUL character")
    return value


def clamp_limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


def page_of(rows: Sequence[R], size: int, key: Callable[[R], tuple[Any, ...]],
            item: Callable[[R], T]) -> Page[T]:
    """The first `size` rows as a page; callers fetch `size + 1` rows, so one more means there is a next page."""
    next_cursor = encode_cursor(*key(rows[size - 1])) if len(rows) > size else None
    return Page([item(row) for row in rows[:size]], next_cursor)


# A cursor is only base64 JSON, so a client can forge one: each part is checked before it reaches SQL, where a
# malformed time or id would otherwise fail as a server error.

def cursor_time(part: str) -> datetime:
    try:
        value = datetime.fromisoformat(part)
    except ValueError:
        raise InvalidCursor() from None
    if value.tzinfo is None:
        raise InvalidCursor()
    return value


def cursor_uuid(part: str) -> UUID:
    try:
        return UUID(part)
    except ValueError:
        raise InvalidCursor() from None


def cursor_int(part: str) -> int:
    try:
        return int(part)
    except ValueError:
        raise InvalidCursor() from None
