"""Waking followers when their log has new events: one LISTEN connection per process, for every channel.

Writers NOTIFY on their events table's channel in the transaction that inserts the events (the library does,
once per transaction). A NOTIFY is only a hint: a follower reads its log at least every `POLL_S` anyway, so
a lost or early notification (or this connection breaking) delays an event by that much, never more.
"""

import logging
import threading
from collections.abc import Iterable
from typing import Final

import psycopg
from psycopg.sql import SQL, Identifier

from adapters.database import Database

log = logging.getLogger(__name__)

POLL_S: Final = 1.0
RECONNECT_S: Final = 1.0


class LogWakeups:
    def __init__(self, database: Database, channels: Iterable[str]) -> None:
        self._database = database
        self._events = {channel: threading.Event() for channel in channels}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wakeup(self, channel: str) -> threading.Event:
        """Set whenever `channel` is notified (and whenever listening broke): clear it, read, then wait on it."""
        return self._events[channel]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, name="log-wakeups", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._database.url, autocommit=True, connect_timeout=5) as connection:
                    for channel in self._events:
                        connection.execute(SQL("LISTEN {0}").format(Identifier(channel)))
                    self._wake_all()  # anything committed before the LISTEN took effect is read now
                    while not self._stop.is_set():
                        for notify in connection.notifies(timeout=POLL_S, stop_after=100):
                            event = self._events.get(notify.channel)
                            if event is not None:
                                event.set()
            except psycopg.Error as error:
                log.warning("listening for new events failed (%s); followers poll meanwhile", error)
                self._wake_all()
                self._stop.wait(RECONNECT_S)

    def _wake_all(self) -> None:
        for event in self._events.values():
            event.set()
