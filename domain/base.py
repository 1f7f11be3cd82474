"""The base every aggregate of ours shares: events that carry correlation and causation ids.

The ids come from context variables so that domain methods need not pass them around: whoever handles a
command or reacts to an event sets them for the duration of that work (see `message_context`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import field
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)


@contextmanager
def message_context(correlation_id: str | None, causation_id: str | None) -> Iterator[None]:
    """Stamp every event created inside the block with these ids."""
    correlation_token = correlation_id_var.set(correlation_id)
    causation_token = causation_id_var.set(causation_id)
    try:
        yield
    finally:
        causation_id_var.reset(causation_token)
        correlation_id_var.reset(correlation_token)


def current_correlation_id() -> str | None:
    return correlation_id_var.get()


def stable_id(kind: str, key: str) -> UUID:
    """A deterministic id for an aggregate that has a business key, so a repeated create conflicts."""
    return uuid5(NAMESPACE_URL, f"/logistics/{kind}/{key}")


class LogisticsAggregate(Aggregate):
    class Event(Aggregate.Event):
        correlation_id: str | None = field(default_factory=correlation_id_var.get, init=False)
        causation_id: str | None = field(default_factory=causation_id_var.get, init=False)

    class Created(Event, Aggregate.Created):
        pass
