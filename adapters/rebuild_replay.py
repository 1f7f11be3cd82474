"""Replaying read models for a rebuild: each context's log read in large batches and folded in memory.

A rebuild folds each context's whole log in memory (`projections.replay`) and writes the result with COPY
(`adapters.rebuild_tables`), which is far faster than the live path's statement per event. It never writes the
outbox: what a rebuild replays was published when it first happened.

A rebuild replays each upstream exactly up to the position the live generation has reached, never further.
The live projector follows every model of a context in one transaction per event and publishes as it goes
(domain-event messages come from the audit model); if a rebuilt model's tracking were ahead of the live
projector, the projector would skip those events for it and their messages would never be published.

What a rebuild works from is handed to it (`RebuildSources`): the contexts whose logs it reads and every read
model, so that this library knows neither the applications nor the models.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from adapters.database import Database
from adapters.event_log import PAGE_SIZE, ContextLog, ContextLogClass, notification_pages
from adapters.followers import read_models_follower
from adapters.parked_events import ParkedEvents
from projections.read_model import ReadModel
from projections.replay import ModelFold, Replay, ReplayProgress

BATCH_SIZE = PAGE_SIZE
"""Notifications per select (tests make it small, to interrupt a rebuild midway through a log)."""


@dataclass(frozen=True)
class RebuildSources:
    """What a rebuild works from: the contexts whose logs feed the read models, and every read model."""

    contexts: Sequence[ContextLogClass]
    models: Mapping[str, ReadModel]
    """Every read model by name, in the order the live projector writes them (the order locks are taken in)."""

    def in_projector_order(self, models: Sequence[ReadModel]) -> list[ReadModel]:
        names = {model.name for model in models}
        unknown = names - set(self.models)
        if unknown:
            raise ValueError(f"unknown read model(s) {', '.join(sorted(unknown))}")
        return [model for model in self.models.values() if model.name in names]


class EventLogs:
    """Each context's notification log, read in large batches and decoded by the context's own mapper.

    Events the read models' follower of a context never applied (parked and not yet retried, or skipped by an
    operator: `adapters.parked_events`) are left out, so a rebuild gives what the live path gave.
    """

    def __init__(self, database: Database, contexts: Sequence[ContextLogClass], batch_size: int | None = None) -> None:
        self.batch_size = batch_size or BATCH_SIZE
        env = database.eventsourcing_env(pool_size=1, max_overflow=1)
        self.apps: dict[str, ContextLog] = {}
        parked = ParkedEvents.of(database)
        self.left_out = {context.name: parked.skipped_notifications(read_models_follower(context.name))
                         for context in contexts}
        try:
            for context in contexts:
                self.apps[context.name] = context(env=env)
        except BaseException:
            self.close()
            raise

    @property
    def left_out_count(self) -> int:
        return sum(len(ids) for ids in self.left_out.values())

    def head(self, name: str) -> int:
        return self.apps[name].recorder.max_notification_id() or 0

    def read(self, name: str, after: int, stop: int) -> Iterator[list[tuple[int, Any]]]:
        """(position, event) in batches, for positions after `after` up to `stop` inclusive."""
        app = self.apps[name]
        to_event = app.mapper.to_domain_event
        left_out = self.left_out.get(name, set())
        for notifications in notification_pages(app.recorder, after=after, stop=stop, page_size=self.batch_size):
            yield [(notification.id, to_event(notification)) for notification in notifications
                   if notification.id not in left_out]

    def close(self) -> None:
        for app in self.apps.values():
            app.close()

    def __enter__(self) -> "EventLogs":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def replay(logs: EventLogs, folds: Sequence[ModelFold], progress: ReplayProgress, phase: str) -> int:
    """Fold each context's log into every fold that needs it, up to the furthest stop (one read per context).

    Returns the events read.
    """
    run = Replay(folds, progress)
    run.begin(phase)
    for name in logs.apps:
        stop = run.stop(name)
        if stop is None:
            continue
        for batch in logs.read(name, 0, stop):
            run.feed(name, batch)
    return run.read
