"""Keeps `?token=` bearer tokens, which EventSource and browser WebSockets must use, out of the server's logs."""

import logging
import re
from typing import Final

_TOKEN_IN_QUERY: Final = re.compile(r"([?&]token=)[^&\s\"]+")
# uvicorn logs every WebSocket handshake with its query string (and HTTP requests, with access logs on).
_LOGGERS_WITH_PATHS: Final = ("uvicorn.error", "uvicorn.access")


class RedactQueryTokens(logging.Filter):
    """Replaces the value of every `token=` query parameter in a record's arguments with `[redacted]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True


def redact_query_tokens() -> None:
    """Installs the filter (once) on the loggers that log request paths."""
    for name in _LOGGERS_WITH_PATHS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactQueryTokens) for existing in logger.filters):
            logger.addFilter(RedactQueryTokens())
