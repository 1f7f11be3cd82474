"""The base every aggregate of ours shares: events that carry correlation and causation ids.

The ids come from context variables so that domain methods need not pass them around: whoever handles a
command or reacts to an event sets them for the duration of that work (see `message_context`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import field
from enum import Enum
from typing import Any, Generic, TypeVar, overload
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import resolve_topic

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


def stable_id(kind: str, key: str) -> UUID:
    """A deterministic id for an aggregate that has a business key, so a repeated create conflicts."""
    return uuid5(NAMESPACE_URL, f"/logistics/{kind}/{key}")


E = TypeVar("E", bound=Enum)


class EnumState(Generic[E]):
    """An aggregate attribute that holds an enum member but stores its plain value.

    Snapshots keep an aggregate's state as JSON, where an enum member would come back as a plain string;
    storing the value and converting on read keeps `order.status is OrderStatus.PENDING` true after a snapshot.
    """

    def __init__(self, enum: type[E]) -> None:
        self.enum = enum
        self.attribute = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = f"_{name}"

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> "EnumState[E]": ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> E: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> "E | EnumState[E]":
        if obj is None:
            return self
        return self.enum(getattr(obj, self.attribute))

    def __set__(self, obj: object, value: E) -> None:
        setattr(obj, self.attribute, self.enum(value).value)


class OptionalEnumState(EnumState[E]):
    @overload  # type: ignore[override]
    def __get__(self, obj: None, objtype: type | None = None) -> "OptionalEnumState[E]": ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> E | None: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> "E | OptionalEnumState[E] | None":
        if obj is None:
            return self
        value: Any = getattr(obj, self.attribute, None)
        return None if value is None else self.enum(value)

    def __set__(self, obj: object, value: E | None) -> None:
        setattr(obj, self.attribute, None if value is None else self.enum(value).value)


class LogisticsAggregate(Aggregate):
    class Event(Aggregate.Event):
        correlation_id: str | None = field(default_factory=correlation_id_var.get, init=False)
        causation_id: str | None = field(default_factory=causation_id_var.get, init=False)

    class Created(Event, Aggregate.Created):
        pass


def event_topic(aggregate: type, event_name: str) -> str:
    """The stored topic of one of an aggregate's events; a typo fails at import, not in production."""
    topic = f"{aggregate.__module__}:{aggregate.__qualname__}.{event_name}"
    resolve_topic(topic)
    return topic
