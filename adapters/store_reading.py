"""Reading a whole store for `logistics verify`: every context's events, the dispatch index, the parked events.

Each context's log is read in its own order and decoded by its own mapper; a notification that will not decode
is reported by position rather than raised, so one bad record does not hide the rest. The contexts come from
the caller (`adapters.event_log.ContextLogClass`), in the order they are to be read.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import psycopg

from adapters.database import Database
from adapters.dispatch_index import DispatchIndexRecorder
from adapters.event_log import ContextLogClass, notification_pages
from adapters.store_checks import DispatchRows
from domain.store_history import Event
from queries.parked import ParkedEvent, parked_events

PAGE_SIZE: Final = 500
PARKED_LIMIT: Final = 1000


@dataclass(frozen=True)
class Loaded:
    events: list[Event]
    undecodable: list[str]
    """Notifications that could not be turned back into domain events: a breach of their own."""
    dispatch_index: DispatchRows | None = None
    """The dispatch index's rows, as of the last shipping event read."""


def load_events(database: Database, contexts: Sequence[ContextLogClass]) -> Loaded:
    """Every event of every context, each context in its log order, the contexts in the order given.

    Give Orders first: an order moves only after another context's fact was committed, so every fact an
    order read has acted on is already there when the other contexts are read after it.
    """
    env = database.eventsourcing_env(pool_size=1, max_overflow=1)
    events: list[Event] = []
    undecodable: list[str] = []
    dispatch_index: DispatchRows | None = None
    for context in contexts:
        application = context(env=env)
        try:
            stop: int | None = None
            if isinstance(application.recorder, DispatchIndexRecorder):
                # The rows and the log position they reflect in one snapshot; the log is then read up to there.
                snapshot = application.recorder.snapshot()
                dispatch_index = DispatchRows(snapshot.couriers, snapshot.waiting)
                stop = snapshot.up_to
            for page in notification_pages(application.recorder, stop=stop, page_size=PAGE_SIZE):
                for notification in page:
                    try:
                        events.append(application.mapper.to_domain_event(notification))
                    except Exception as error:  # reported, not raised: one bad record must not hide the rest
                        undecodable.append(f"{application.name} #{notification.id} {notification.topic}: {error!r}")
        finally:
            application.close()
    return Loaded(events, undecodable, dispatch_index)


def load_parked(database: Database) -> list[ParkedEvent]:
    with database.connect() as connection:
        try:
            return parked_events(connection, limit=PARKED_LIMIT)
        except psycopg.errors.UndefinedTable:  # a store migrated before parking existed has parked nothing
            return []
