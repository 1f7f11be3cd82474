"""The relay: outbox rows to the broker, in order, with confirms; nothing lost between database and broker.

Rows are marked sent only after the broker confirmed them. If the relay dies between the confirm and the
mark, the rows go out again with the same message ids, and consumers de-duplicate on those.
"""

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import psycopg
from psycopg.rows import TupleRow

from adapters.database import READ_SCHEMA, Database
from adapters.messaging import Message, MessageBroker, PublishFailed
from adapters.metrics import RELAY_PUBLISHED
from projections.messages import OutboxMessage

log = logging.getLogger(__name__)

OUTBOX = f"{READ_SCHEMA}.outbox"
NOTIFIED_POLL_S = 1.0
"""With NOTIFY waking it, the relay looks on its own only this often (a lost notification costs that much)."""


def _broker_message(outbox_id: int, message: OutboxMessage) -> Message:
    """What the relay publishes for an outbox row: the body is `encoded()`, the one encoding of the contract."""
    return Message(routing_key=message.routing_key, body=message.encoded(), message_id=message.message_id,
                   headers={"outbox-id": outbox_id, "aggregate-id": str(message.aggregate_id)})


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0
    last_error: str | None = None
    started_at: float = field(default_factory=time.monotonic)


class OutboxRelay:
    def __init__(self, database: Database, broker: MessageBroker, *, batch_size: int = 500,
                 retention: timedelta = timedelta(days=7), idle_poll_s: float = 0.05,
                 wakeup: threading.Event | None = None, holding: Callable[[], bool] = lambda: True) -> None:
        """`wakeup`: set when rows were committed (a NOTIFY), so the relay can wait long without delaying them;
        `holding`: whether this process holds the relay's lease (two relays would publish everything twice)."""
        self._database = database
        self._broker = broker
        self._batch_size = batch_size
        self._retention = retention
        self._idle_poll_s = idle_poll_s if wakeup is None else max(idle_poll_s, NOTIFIED_POLL_S)
        self._wakeup = wakeup or threading.Event()
        self._holding = holding
        self.stats = RelayStats()
        self._kept: psycopg.Connection[TupleRow] | None = None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[TupleRow]]:
        """One connection kept for the relay's life (it polls often), replaced if it breaks."""
        if self._kept is None or self._kept.closed:
            self._kept = self._database.connect()
        try:
            yield self._kept
        except psycopg.OperationalError:
            self._kept.close()
            self._kept = None
            raise

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()

    def relay_batch(self) -> int:
        """Publish the oldest unsent rows and mark them sent; returns how many went out."""
        with self._connection() as connection:
            rows = connection.execute(
                f"SELECT id, message_id, routing_key, aggregate_id, body FROM {OUTBOX} "
                "WHERE published_at IS NULL ORDER BY id LIMIT %s", (self._batch_size,),
            ).fetchall()
            if not rows:
                return 0
            messages = [
                _broker_message(int(str(row_id)), OutboxMessage(message_id=str(message_id),
                                                               routing_key=str(routing_key),
                                                               aggregate_id=UUID(str(aggregate_id)), body=body))
                for row_id, message_id, routing_key, aggregate_id, body in rows
            ]
            self._broker.publish(messages)
            connection.execute(f"UPDATE {OUTBOX} SET published_at = now() WHERE id = ANY(%s)",
                               ([row[0] for row in rows],))
        self.stats.published += len(rows)
        RELAY_PUBLISHED.inc(len(rows))
        return len(rows)

    def forget_sent(self) -> None:
        """Delete sent rows older than the retention window."""
        with self._connection() as connection:
            connection.execute(f"DELETE FROM {OUTBOX} WHERE published_at < now() - %s", (self._retention,))

    def backlog(self) -> int:
        with self._connection() as connection:
            row = connection.execute(f"SELECT count(*) FROM {OUTBOX} WHERE published_at IS NULL").fetchone()
        return int(row[0]) if row else 0

    def run(self, stop: threading.Event) -> None:
        """Relay until stopped; a broker outage is waited out with backoff, and the rows wait with it."""
        try:
            self._relay_until(stop)
        finally:
            self.close()

    def _relay_until(self, stop: threading.Event) -> None:
        backoff = 0.1
        next_cleanup = time.monotonic()
        while not stop.is_set():
            if not self._holding():
                stop.wait(self._idle_poll_s)
                continue
            self._wakeup.clear()
            try:
                sent = self.relay_batch()
                backoff = 0.1
            except PublishFailed as error:
                self.stats.failures += 1
                self.stats.last_error = str(error)
                log.warning("broker unavailable (%s); retrying in %.1f s", error, backoff)
                stop.wait(backoff * random.uniform(0.8, 1.2))
                backoff = min(5.0, backoff * 2)
                continue
            if time.monotonic() >= next_cleanup:
                self.forget_sent()
                next_cleanup = time.monotonic() + 60
            if sent < self._batch_size:
                self._wakeup.wait(self._idle_poll_s)
