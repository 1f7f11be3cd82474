"""Every follower of the platform: its name, its partitions, and where a tracking table records its position."""

from adapters.database import CONTEXT_SCHEMAS
from adapters.follower_registry import TrackedFollower
from adapters.followers import DEADLINES_FOLLOWER, RELAY_FOLLOWER, edge_name, read_models_follower
from commands.deadlines import PaymentDeadlines
from commands.payments import Payments
from commands.saga_steps import SAGA_EDGES
from projections.partitions import PARTITIONS


def follower_partitions() -> dict[str, int]:
    """Every follower of the platform and its partition count (the relay is one: it publishes in order)."""
    followers = {edge_name(upstream.name, policy.name): PARTITIONS for upstream, policy in SAGA_EDGES}
    followers.update({read_models_follower(context): PARTITIONS for context in CONTEXT_SCHEMAS})
    followers[DEADLINES_FOLLOWER] = PARTITIONS
    followers[RELAY_FOLLOWER] = 1
    return followers


def tracked_followers() -> list[TrackedFollower]:
    """The saga's steps and the payment deadlines, as the status query finds their positions (the read models'
    followers it finds from the models themselves)."""
    steps = [TrackedFollower(f"saga: {step.name}", edge_name(upstream.name, step.name), upstream.name,
                             CONTEXT_SCHEMAS[step.name], f"{step.name.lower()}_tracking", tuple(step.topics))
             for upstream, step in SAGA_EDGES]
    deadlines = TrackedFollower("payment deadlines", DEADLINES_FOLLOWER, Payments.name, CONTEXT_SCHEMAS[Payments.name],
                                f"{PaymentDeadlines.name.lower()}_tracking", tuple(PaymentDeadlines.topics))
    return [*steps, deadlines]
