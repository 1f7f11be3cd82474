"""The platform's followers by name, and each one's partition count.

A follower's name is its lease's name and its runner's name (`logistics worker --only orders-to-inventory`).
"""

from typing import Final

from adapters.database import CONTEXT_SCHEMAS
from commands.policies import SAGA_EDGES
from projections.partitions import PARTITIONS

DEADLINES_FOLLOWER: Final = "payment-deadlines"
RELAY_FOLLOWER: Final = "relay"


def edge_name(upstream: str, downstream: str) -> str:
    """A saga step's follower name: `orders-to-inventory`."""
    return f"{upstream.lower()}-to-{downstream.lower()}"


def read_models_follower(upstream: str) -> str:
    return f"readmodels-from-{upstream.lower()}"


def follower_partitions() -> dict[str, int]:
    """Every follower of the platform and its partition count (the relay is one: it publishes in order)."""
    followers = {edge_name(upstream.name, policy.name): PARTITIONS for upstream, policy in SAGA_EDGES}
    followers.update({read_models_follower(context): PARTITIONS for context in CONTEXT_SCHEMAS})
    followers[DEADLINES_FOLLOWER] = PARTITIONS
    followers[RELAY_FOLLOWER] = 1
    return followers
