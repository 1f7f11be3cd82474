"""What the four contexts' applications share: value-object transcodings, not-found mapping, conflict retries."""

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording

from commands.errors import ConcurrencyConflict, NotFound
from domain.transcodings import register_value_objects

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")

CONFLICT_ATTEMPTS = 8

Changed = list[MutableOrImmutableAggregate[UUID]]
"""The aggregates a decision changed, for its caller to record in one transaction."""


def fold_events(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's `project_aggregate` without its per-event `assert isinstance(event, CanMutateProtocol)`.

    That check is against a runtime-checkable Protocol, which Python 3.11 answers by listing the protocol's
    attributes every time: about 30 µs an event, five sixths of the time to fold a courier's 99 positions past
    its snapshot. Every stored event of ours is an aggregate event, so the check can only ever pass.
    """
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def retry_on_conflict(method: Callable[P, R]) -> Callable[P, R]:
    """Re-run a read-modify-save command when another writer got to the aggregate first.

    Every attempt re-reads the aggregate, so the command is decided again on fresh state. After a bounded number
    of attempts the conflict is reported (and answered with 409) instead of retried forever.
    """

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                return method(*args, **kwargs)
            except IntegrityError:
                # Jittered backoff so that racing writers do not collide again in lockstep.
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise ConcurrencyConflict(f"{method.__qualname__}: gave up after {CONFLICT_ATTEMPTS} conflicting writes")

    return wrapper


EventsRecorded = Callable[[str, Sequence[Any]], None]
"""Told the context's name and the events it has just recorded (metrics, for one)."""


class ContextApplication(Application[UUID]):
    """One bounded context's event store. Subclasses pin `name`: it names the tables and the env prefix."""

    def __init__(self, env: Mapping[str, str] | None = None, *, observers: Sequence[EventsRecorded] = ()) -> None:
        # Set before the library's own setup, which may already record (snapshots, for one).
        self.observers = tuple(observers)
        """Whoever wants to hear of every event this application records (the composition root's metrics)."""
        super().__init__(env)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        # The library's hook after every save and every processed event (its public `notify` is deprecated).
        super()._notify(recordings)
        if self.observers and recordings:
            events = [recording.domain_event for recording in recordings]
            for observer in self.observers:
                observer(self.name, events)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_objects(transcoder)

    def exists(self, aggregate_id: UUID) -> bool:
        # One indexed read of at most one row: the repository's `in` would read a snapshot, then every event,
        # and rebuild the aggregate only to throw it away.
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def load(self, aggregate_id: UUID, kind: type[A], label: str | None = None) -> A:
        try:
            aggregate: Any = self.repository.get(aggregate_id, projector_func=fold_events)
        except AggregateNotFoundError:
            raise NotFound(label or kind.__name__.lower(), aggregate_id) from None
        if not isinstance(aggregate, kind):
            raise NotFound(label or kind.__name__.lower(), aggregate_id)
        return aggregate

    def in_hand(self) -> list[Any]:
        """What the unit of work in progress on this thread has changed and not yet recorded: nothing for a
        command, which records what it changes at once; a saga batch's aggregates (`SagaStep`)."""
        return []

    def save_all(self, *aggregates: MutableOrImmutableAggregate[UUID]) -> int:
        """Save atomically; the position is the last written event's place in this context's log."""
        recordings = self.save(*aggregates)
        return recordings[-1].notification.id if recordings else self.head_position()

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0
