"""Replaying read models from the event logs in memory: the documents and rows the live path would have written.

The live path (`adapters.postgres_read_models`) applies one event at a time, reading each document back from
PostgreSQL. A rebuild instead folds whole logs into memory and writes the result once, which is what makes it
fast; these functions are the fold, with no SQL, so that a replay and the live path agree by construction:
the same reducers, the same first-row-wins for rows that collide, the same `updated_at` for every document.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from projections.partitions import partition_of, position_name, upstream_of
from projections.read_model import Doc, ReadModel

Positions = dict[str, int]
"""Tracking rows: the last position taken from each partition of each upstream's log (`Orders#2`), or from a
whole log before partitions (`Orders`). A log with no row contributes nothing."""


@dataclass
class ModelFold:
    """One read model's documents and rows after the events of each upstream up to a position (inclusive)."""

    model: ReadModel
    stops: Mapping[str, int]
    """The tracking rows to fold up to (see `Positions`)."""
    docs: dict[UUID, Doc] = field(default_factory=dict)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    events: int = 0
    """Events folded (of this model's upstreams, up to its stops)."""
    _written_at: dict[UUID, str] = field(default_factory=dict)
    _seen_keys: set[tuple[Any, ...]] = field(default_factory=set)
    _unique_at: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        unknown = {upstream_of(name) for name in self.stops} - self.model.upstreams
        if unknown:
            raise ValueError(f"{self.model.name} does not follow {', '.join(sorted(unknown))}")
        if self.model.rows is not None:
            names = [name for name, _ in self.model.rows.columns]
            self._unique_at = tuple(names.index(name) for name in self.model.rows.unique)

    def wants(self, application_name: str, position: int, partition: int) -> bool:
        name = position_name(self.stops, application_name, partition)
        return name is not None and position <= self.stops[name]

    def apply(self, event: Any, application_name: str, position: int) -> None:
        """Fold one event; events of one context must come in that context's order."""
        if not self.wants(application_name, position, partition_of(event.originator_id)):
            return
        self.events += 1
        documents = self.model.documents
        if documents is not None:
            key = documents.key(event)
            if key is not None:
                self._apply_document(key, event)
        if self.model.rows is not None:
            for row in self.model.rows.rows(event, position):
                self._add_row(row)

    def _apply_document(self, key: UUID, event: Any) -> None:
        documents = self.model.documents
        assert documents is not None
        before = self.docs.get(key)
        after = documents.reduce(before, event)
        if after is None:
            self.docs.pop(key, None)
            self._written_at.pop(key, None)
            return
        self.docs[key] = after
        # The live path stamps a document without its own `updated_at` with the time of the last event that
        # changed it; only then is the (rarely needed, costly) comparison worth making.
        if not after.get("updated_at") and after is not before and after != before:
            self._written_at[key] = event.timestamp.isoformat()

    def _add_row(self, row: tuple[Any, ...]) -> None:
        if self._unique_at:
            unique = tuple(row[index] for index in self._unique_at)
            # As with the live path's ON CONFLICT DO NOTHING: the first row wins, and NULLs never collide.
            if None not in unique:
                if unique in self._seen_keys:
                    return
                self._seen_keys.add(unique)
        self.rows.append(row)

    def document_records(self) -> Iterator[tuple[UUID, Doc, str | None, tuple[Any, ...]]]:
        """(id, document, updated_at, extra column values) per document, as the live path writes them."""
        documents = self.model.documents
        if documents is None:
            return
        for key, doc in self.docs.items():
            updated_at = doc.get("updated_at") or self._written_at.get(key)
            yield key, doc, updated_at, tuple(column.value(doc) for column in documents.columns)

    def tracking(self) -> Positions:
        """The tracking rows the folded tables stand at: the stops themselves."""
        return dict(self.stops)

    def total(self) -> int:
        """An upper bound of the events to fold: positions are numbered from 1, with rare gaps."""
        furthest: dict[str, int] = {}
        for name, position in self.stops.items():
            furthest[upstream_of(name)] = max(furthest.get(upstream_of(name), 0), position)
        return sum(furthest.values())


class ReplayProgress(Protocol):
    """Told how far each model's replay has got (a progress bar, a test's interruption)."""

    def begin(self, model: str, phase: str, total: int) -> None: ...

    def advance(self, model: str, events: int) -> None: ...


class NoProgress:
    def begin(self, model: str, phase: str, total: int) -> None:
        pass

    def advance(self, model: str, events: int) -> None:
        pass


@dataclass
class Replay:
    """Several models' folds fed from one reading of the logs: each event is decoded once, whoever needs it."""

    folds: Sequence[ModelFold]
    progress: ReplayProgress = field(default_factory=NoProgress)
    read: int = 0
    """Events fed (each decoded once, however many models took it)."""
    _reported: dict[str, int] = field(default_factory=dict)

    def stop(self, application_name: str) -> int | None:
        """How far to read a context's log: to the furthest stop any model has in it."""
        stops = [position for fold in self.folds for name, position in fold.stops.items()
                 if upstream_of(name) == application_name]
        return max(stops) if stops else None

    def feed(self, application_name: str, batch: Sequence[tuple[int, Any]]) -> None:
        """Fold a batch of (position, event) of one context, then report progress."""
        takers = [fold for fold in self.folds if any(upstream_of(name) == application_name for name in fold.stops)]
        self.read += len(batch)
        for position, event in batch:
            for fold in takers:
                fold.apply(event, application_name, position)
        self.report()

    def report(self) -> None:
        for fold in self.folds:
            name = fold.model.name
            done = fold.events - self._reported.get(name, 0)
            if done:
                self._reported[name] = fold.events
                self.progress.advance(name, done)

    def begin(self, phase: str) -> None:
        for fold in self.folds:
            self._reported[fold.model.name] = fold.events
            self.progress.begin(fold.model.name, phase, fold.total())
