"""Which partition of a follower an event belongs to, and how a partition's position is named.

An event belongs to partition `partition_of(originator_id)`: the first 32 bits of its aggregate's id (random
or name-based UUIDs, so evenly spread) modulo `PARTITIONS`. All events of one aggregate are in one partition,
so a partition's follower sees them in order. A partition's position is a tracking row named after its log
and partition (`Orders#2`); a row named after the log alone (`Orders`) is from before partitions, and stands
for every partition that has no row of its own yet. Pure: the runners, the rebuilds and `status` share it.
"""

from collections.abc import Mapping
from typing import Final
from uuid import UUID

PARTITIONS: Final = 4
"""Every follower's partition count. Fixed: an event's partition must never change once processed."""


def partition_of(aggregate_id: UUID, count: int = PARTITIONS) -> int:
    return (aggregate_id.int >> 96) % count


def tracking_name(upstream: str, partition: int) -> str:
    """A partition's row in a follower's tracking table: `Orders#2` for partition 2 of the Orders log."""
    return f"{upstream}#{partition}"


def upstream_of(name: str) -> str:
    """The log a tracking row follows: `Orders` for `Orders#2` (and for a row from before partitions)."""
    return name.split("#", 1)[0]


def partition_in(name: str) -> int | None:
    """The partition a tracking row is of; None for a row from before partitions."""
    _, _, partition = name.partition("#")
    return int(partition) if partition else None


def position_name(positions: Mapping[str, int], upstream: str, partition: int) -> str | None:
    """The row that holds this partition's position among `positions`: its own, the log's, or None."""
    own = tracking_name(upstream, partition)
    if own in positions:
        return own
    return upstream if upstream in positions else None
