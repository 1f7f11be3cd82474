"""Cursor pagination: a page of rows and an opaque cursor that resumes right after its last row."""

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

MAX_LIMIT = 200


class InvalidCursor(ValueError):
    pass


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
        raise InvalidCursor("cursor is not one this API gave out") from None
    if not isinstance(key, list) or len(key) != parts or not all(isinstance(part, str) for part in key):
        raise InvalidCursor("cursor is not one this API gave out")
    return key


def clamp_limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))
