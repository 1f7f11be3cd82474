"""What every push transport shares: the process's hub, queries and feed, and which orders an actor may watch.

A connection is shown the read model's document together with the outbox id of its newest view message (one
statement, see ``queries.push``), then starts following, then reads from the outbox whatever committed between
the two; `visible_snapshot` is that first step, under the visibility rule of the query API.
"""

import asyncio
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from domain.identity import Actor, Role
from queries.push import OrderSnapshot, PushQueries
from queries.push_hub import PushHub
from web.query_api.push_feed import PushFeed

PUSH_ROLES: Final = frozenset({Role.CUSTOMER, Role.ADMIN})


@dataclass(frozen=True)
class PushContext:
    hub: PushHub
    queries: PushQueries
    feed: PushFeed
    secret: str
    appear_timeout_s: float = 5.0
    """How long to wait for an order the projector has not shown yet (a client that follows it right away)."""
    auth_timeout_s: float = 10.0
    ping_interval_s: float = 15.0


def may_see(actor: Actor, snapshot: OrderSnapshot) -> bool:
    return actor.role is Role.ADMIN or snapshot.customer_id == actor.subject


async def visible_snapshot(context: PushContext, order_id: UUID, actor: Actor) -> OrderSnapshot | None:
    """The order as this actor may see it, waiting a little for one placed a moment ago; None if not theirs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + context.appear_timeout_s
    delay = 0.02
    while True:
        snapshot = await asyncio.to_thread(context.queries.order_snapshot, order_id)
        # A document without a status holds another context's part of an order not placed (projected) yet.
        if snapshot is not None and snapshot.status is not None:
            return snapshot if may_see(actor, snapshot) else None
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)
