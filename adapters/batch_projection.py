"""Following one context's log in batches: the read models' runner.

The library's runner projects one event per transaction; a busy context then costs one commit and a dozen
round trips per event, and the read models fall behind the writers. This runner reads up to a batch of
notifications at once and projects them in one transaction, with the same tracking (each read model skips
what it has seen), so nothing changes about exactly-once, only about how many events share a commit.
"""

import threading
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from psycopg.sql import SQL, Identifier

from adapters.database import Database
from adapters.postgres_read_models import PostgresReadModelsView

BATCH_SIZE = 200
# A NOTIFY only says "look now"; without one the log is still read every second, so a lost or early
# notification delays an event by a second at most.
IDLE_WAIT_S = 1.0


def project_in_batches(database: Database, app: Any, view: PostgresReadModelsView, stop: threading.Event,
                       every_poll: Callable[[], None] | None = None, batch_size: int = BATCH_SIZE) -> None:
    """Project `app`'s log into `view` until `stop` is set; raises on any database or projection error."""
    channel = app.recorder.channel_name
    with psycopg.connect(database.url, autocommit=True) as listener:
        # Listening before the first read: an event committed after that read still wakes us.
        listener.execute(SQL("LISTEN {0}").format(Identifier(channel)))
        position = view.max_tracking_id(app.name) or 0
        while not stop.is_set():
            notifications = app.recorder.select_notifications(start=position, limit=batch_size,
                                                              inclusive_of_start=False)
            if notifications:
                view.project_batch([(app.mapper.to_domain_event(notification), Tracking(app.name, notification.id))
                                    for notification in notifications])
                position = notifications[-1].id
                if len(notifications) == batch_size:
                    continue  # more are waiting: no need to wait for a notification
            if every_poll is not None:
                every_poll()
            for _ in listener.notifies(timeout=IDLE_WAIT_S, stop_after=1):
                pass
