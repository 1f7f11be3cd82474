"""How this platform connects to RabbitMQ: connection parameters from a URL, and the backoff between attempts."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pika

__all__ = ["backoff", "connection_parameters"]

_HEARTBEAT_S = 30
_BLOCKED_CONNECTION_TIMEOUT_S = 60
_BACKOFF_BASE_S = 0.2
_BACKOFF_CAP_S = 5.0


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter, so that many clients do not reconnect in lockstep after a broker restart."""
    ceiling = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


def connection_parameters(url: str, connection_name: str) -> Any:
    parameters = pika.URLParameters(url)
    query = parse_qs(urlsplit(url).query)
    # The URL wins where it says something; otherwise use values that suit this platform.
    if "heartbeat" not in query:
        parameters.heartbeat = _HEARTBEAT_S
    if "blocked_connection_timeout" not in query:
        parameters.blocked_connection_timeout = _BLOCKED_CONNECTION_TIMEOUT_S
    client_properties = dict(parameters.client_properties or {})
    # Shows up in the management UI and `rabbitmqctl list_connections client_properties`.
    client_properties["connection_name"] = connection_name
    parameters.client_properties = client_properties
    return parameters
