"""How the platform's followers are named.

A follower's name is its lease's name and its runner's name (`logistics worker --only orders-to-inventory`).
"""

from typing import Final

DEADLINES_FOLLOWER: Final = "payment-deadlines"
RELAY_FOLLOWER: Final = "relay"


def edge_name(upstream: str, downstream: str) -> str:
    """A saga step's follower name: `orders-to-inventory`."""
    return f"{upstream.lower()}-to-{downstream.lower()}"


def read_models_follower(upstream: str) -> str:
    return f"readmodels-from-{upstream.lower()}"
