"""The invariants of what the adapters keep beside the event logs: the dispatch index, the parked events.

Both are judged like the domain's invariants (`domain.invariants.Check`) and reported with them by
`logistics verify`: the dispatch index (rows kept beside the shipping events, `adapters.dispatch_index`) must
say what the shipping log says, and no follower may have an event parked or held.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from commands.dispatch_index import CourierRow, WaitingRow, index_of, same_rows
from domain.invariants import Check, judged
from domain.store_history import Event
from queries.parked import ParkedEvent

DISPATCH_INDEX: Final = "the dispatch index agrees with the shipping log"
NOTHING_PARKED: Final = "no event parked or held by a follower"


@dataclass(frozen=True)
class DispatchRows:
    couriers: list[CourierRow]
    waiting: list[WaitingRow]


def dispatch_index_agrees(events: Sequence[Event], rows: DispatchRows | None) -> Check:
    """The index's rows, read in one snapshot with the log position they reflect, against the rows the log up
    to there implies (`events`: every shipping event up to that position; not judged without the rows)."""
    if rows is None:
        return judged(DISPATCH_INDEX, [], 0)
    expected = index_of(events)
    breaches = same_rows(expected, rows.couriers, rows.waiting)
    return judged(DISPATCH_INDEX, breaches, len(expected.couriers) + len(expected.waiting))


def nothing_parked(rows: Sequence[ParkedEvent]) -> Check:
    """A parked event is one a follower never applied (nor what it holds): the read side or the saga is short
    of it until an operator retries or skips it."""
    breaches = [f"{row.follower}: {row.topic.rsplit(':', 1)[-1]} of {row.originator_id} at position "
                f"{row.notification_id} is {row.status} (`logistics parked show {row.id}`)" for row in rows]
    return judged(NOTHING_PARKED, breaches, len(rows))
