"""Reading a context's whole event log, or a stretch of it, in pages: the one loop every reader of a log uses.

Rebuilds, `logistics verify`, the dispatch index's fill and the benchmarks page through a context's notification
log from a position up to a stop; they all do it with `notification_pages`, over the context's recorder (or
over anything else that selects notifications the recorder's way, such as a cursor inside a transaction).
The live followers read differently, one partitioned page at a time (`adapters.partitioned_log`).

Reading needs only two things of a context's application, its recorder and the mapper that decodes its
notifications: `ContextLog` says so, and `ContextLogClass` is what opens one (a context's application class),
so that a reader is handed the contexts it reads instead of knowing them.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

PAGE_SIZE: Final = 2000
"""Notifications per select: large enough that round trips cost little, small enough to stream."""


class SelectsNotifications(Protocol):
    """The part of `eventsourcing.persistence.ApplicationRecorder` that pages through a log."""

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Notification]: ...


class ContextLog(Protocol):
    """A context's application, as far as reading its log goes."""

    @property
    def name(self) -> str: ...

    @property
    def recorder(self) -> ApplicationRecorder: ...

    @property
    def mapper(self) -> Mapper[UUID]: ...

    def close(self) -> None: ...


class ContextLogClass(Protocol):
    """A context's application class: its name, and an instance of it on an environment."""

    @property
    def name(self) -> str: ...

    def __call__(self, env: Mapping[str, str] | None = None) -> ContextLog: ...


def notification_of(row: Mapping[str, Any]) -> Notification:
    """A notification from a row of a context's events table, selected by its own column names."""
    return Notification(id=row["notification_id"], originator_id=row["originator_id"],
                        originator_version=row["originator_version"], topic=row["topic"], state=bytes(row["state"]))


def notification_pages(log: SelectsNotifications, *, after: int = 0, stop: int | None = None,
                       page_size: int | None = None) -> Iterator[Sequence[Notification]]:
    """The log's notifications after position `after` up to `stop` inclusive (to the end without), in order,
    a page of up to `page_size` at a time."""
    limit = page_size or PAGE_SIZE
    position = after
    while stop is None or position < stop:
        page = log.select_notifications(position, limit=limit, stop=stop, inclusive_of_start=False)
        if not page:
            return
        yield page
        position = page[-1].id
