"""What a read model is: pure functions from events to rows, which the PostgreSQL adapter runs.

A read model keeps documents (one JSON document per entity, rebuilt by a reducer) and/or appends rows
(one or more per event, never changed). Reducers must give the same result whichever order the events of
*different* contexts arrive in (each context's own events always arrive in order), because each upstream
context is followed by its own runner. They do so by writing separate parts of a document per context and
keeping lists sorted.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

Doc = dict[str, Any]


@dataclass(frozen=True)
class Column:
    """A column beside the document, for filtering and ordering; its value is taken from the document."""

    name: str
    sql_type: str
    value: Callable[[Doc], Any]
    indexed: bool = True


@dataclass(frozen=True)
class Documents:
    """One document per entity."""

    key: Callable[[Any], UUID | None]
    """Which entity an event changes; None if it changes none."""
    reduce: Callable[[Doc | None, Any], Doc | None]
    """The entity's document after the event (None: the entity is gone)."""
    columns: Sequence[Column] = ()
    kind: str = ""
    """For view-change messages: `view.<kind>.updated`."""


@dataclass(frozen=True)
class Rows:
    """Rows appended per event, never changed afterwards (an audit trail, a track)."""

    table: str
    """Table name suffix, e.g. `track` gives `<model>_track`."""
    columns: Sequence[tuple[str, str]]
    """(name, SQL type) in the order `rows` yields values."""
    rows: Callable[[Any, int], list[tuple[Any, ...]]]
    """The rows an event adds, given the event and its position in its context's log."""
    unique: Sequence[str] = ()
    """Columns that identify a row: a replayed event adds nothing twice."""
    indexes: Sequence[Sequence[str]] = ()


@dataclass(frozen=True)
class ReadModel:
    name: str
    """The model's name, e.g. `orders`; tables are named after it and its generation."""
    upstreams: frozenset[str]
    """The contexts (application names) whose events it needs."""
    documents: Documents | None = None
    rows: Rows | None = None
    publishes_domain_events: bool = False
    """Whether projecting it also puts every event on the outbox as a domain-event message (one model does)."""
    topics: Sequence[str] = field(default=())
    """The stored event topics it reacts to; empty means every event of its upstreams."""
