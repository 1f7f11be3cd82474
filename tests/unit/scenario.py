"""Given events / when command / then events, for aggregates in memory (no I/O).

    order = given(*history(place_order(), Order.record_stock_reserved), kind=Order)
    assert names(when(order, Order.record_payment_authorized)) == ["PaymentAuthorized", "Confirmed"]
    then_rejected(order, Order.confirm_receipt, InvalidTransition)

`history` runs commands on a scratch aggregate and collects the events it recorded; `given` rebuilds a fresh
aggregate from those events alone, the way a repository does; `when` runs one command and returns the events
it recorded; `then_rejected` checks that a refused command raised and left no trace.
"""

from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any, TypeVar
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate, CanMutateAggregate

A = TypeVar("A", bound=Aggregate)
E = TypeVar("E", bound=BaseException)

Event = CanMutateAggregate[UUID]
Command = Callable[[A], object]

# What every event carries besides its own facts; `facts` leaves these out.
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic",
                      "correlation_id", "causation_id"})


def history(aggregate: A, *commands: Command[A]) -> list[Event]:
    """Every event a scratch aggregate recorded, including its creation, after running these commands."""
    for command in commands:
        command(aggregate)
    return list(aggregate.collect_events())


def given(*events: Event, kind: type[A]) -> A:
    """A fresh aggregate rebuilt by replaying these events, with nothing pending."""
    assert events, "given() needs at least the event that created the aggregate"
    rebuilt = project_aggregate(None, events)
    assert isinstance(rebuilt, kind), f"the events rebuilt {type(rebuilt).__name__}, not {kind.__name__}"
    assert rebuilt.pending_events == []
    return rebuilt


def when(aggregate: A, command: Command[A]) -> list[Event]:
    """Run a command and return the events it recorded.

    Also checks that the recorded events alone explain the new state: applying them to a copy of the state
    before the command must give the state after it (no change made outside an event).
    """
    assert aggregate.pending_events == [], "collect the events of earlier commands first"
    before = deepcopy(aggregate)
    command(aggregate)
    new_events = list(aggregate.collect_events())
    replayed = project_aggregate(before, new_events)
    assert replayed == aggregate, "the recorded events do not reproduce the aggregate's new state"
    return new_events


def then_rejected(
    aggregate: A,
    command: Command[A],
    error: type[E],
    untouched: Sequence[Aggregate] = (),
) -> pytest.ExceptionInfo[E]:
    """The command raises `error`, records no event, and changes neither the aggregate nor `untouched`."""
    watched: list[Aggregate] = [aggregate, *untouched]
    assert all(each.pending_events == [] for each in watched), "collect the events of earlier commands first"
    before = deepcopy(watched)
    with pytest.raises(error) as raised:
        command(aggregate)
    recorded = [each.pending_events for each in watched]
    assert recorded == [[] for _ in watched], "a refused command recorded events"
    assert watched == before, "a refused command changed state"
    return raised


def names(events: Sequence[Event]) -> list[str]:
    """The event class names, in order: the shape of a `then`."""
    return [type(event).__name__ for event in events]


def facts(events: Sequence[Event]) -> list[tuple[str, dict[str, Any]]]:
    """Each event's class name and its own attributes (the envelope and metadata left out)."""
    return [
        (type(event).__name__, {key: value for key, value in vars(event).items() if key not in ENVELOPE})
        for event in events
    ]


def ids(event: Event) -> tuple[str | None, str | None]:
    """The (correlation_id, causation_id) an event was stamped with."""
    attributes = vars(event)
    return attributes["correlation_id"], attributes["causation_id"]
