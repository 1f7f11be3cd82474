"""The query API's response bodies. Read-model documents are passed through as they are stored."""

from typing import Any

import msgspec


class OrderPage(msgspec.Struct, frozen=True):
    items: list[dict[str, Any]]
    next_cursor: str | None
