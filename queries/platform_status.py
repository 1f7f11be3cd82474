"""Where every follower of the event streams stands, as operators read it: heads, positions, lags, the
relay's backlog and parked events; and the one rule that turns a tracked position into a lag."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class StreamHead:
    context: str
    position: int
    at: datetime | None


@dataclass(frozen=True)
class PartitionProgress:
    partition: int
    owner: str | None
    """The process holding the partition's lease (`host:pid:nonce`); None while nobody does."""
    position: int
    lag_events: int


@dataclass(frozen=True)
class FollowerProgress:
    follower: str
    """e.g. `read model orders (g1)` or `saga: Inventory`."""
    upstream: str
    position: int
    """Where the follower stands as a whole: its partition furthest behind."""
    head: int
    lag_events: int
    """Events it still has to process, in all its partitions."""
    lag_seconds: float | None
    name: str = ""
    """Its name in the lease table, e.g. `orders-to-inventory`."""
    partitions: list[PartitionProgress] | None = None


@dataclass(frozen=True)
class RelayBacklog:
    unsent: int
    oldest_unsent_age_s: float | None
    sent_kept: int


@dataclass(frozen=True)
class ParkedCount:
    """A follower's parked events: parked (waiting for an operator) and held behind them."""

    follower: str
    parked: int
    held: int
    oldest_age_s: float


@dataclass(frozen=True)
class PlatformStatus:
    heads: list[StreamHead]
    followers: list[FollowerProgress]
    relay: RelayBacklog
    parked: list[ParkedCount] = field(default_factory=list)
    """Followers with unresolved parked events (none listed: nothing is parked)."""


@dataclass(frozen=True)
class Pending:
    """What a follower still has to process, up to the head read in the same snapshot."""

    count: int
    first: int | None
    """The position of the first of them; None when there is none."""


def follower_lag(tracked: int, head: int, pending: Pending) -> tuple[int, int]:
    """The one rule for a follower's position and lag, so that the two always agree.

    A follower with a topic filter never records the events it skips, so its tracked position can stay below
    the head while it has nothing to do. Events it skips count as seen: its position is just before the first
    event it still has to process, or the head when there is none. Lag is the number of events it still has
    to process. So position = head exactly when lag = 0, and the position never passes the head.
    """
    if pending.count == 0 or pending.first is None:
        return head, 0
    return max(min(tracked, head), min(pending.first - 1, head)), pending.count
