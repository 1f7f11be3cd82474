"""An order's status changes as a stream, whatever the transport (the SSE endpoint here, the gRPC face's stream).

No change is lost or repeated at the seams: the stream starts from the order's snapshot (or, resuming, from the
outbox id the client saw last), follows the order's topic, then reads from the outbox whatever committed in
between; live changes at or below the highest id already sent are skipped.
"""

import asyncio
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from adapters.metrics import PUSH_CONNECTIONS
from queries.push import OrderSnapshot
from queries.push_hub import ViewChange, topic_of
from web.query_api.push_context import PushContext

FINAL_STATUSES: Final = frozenset({"RECEIVED", "CANCELLED"})


@dataclass(frozen=True)
class StatusChange:
    """The order reached `status`; `outbox_id` is where, among its view changes (a client resumes after it)."""

    status: str
    outbox_id: int
    doc: Mapping[str, Any]
    """The order's document as of this change."""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class _StatusTracker:
    """Turns view changes into status changes: one per change of status, none for the view's other changes."""

    def __init__(self, last_id: int, last_status: str | None) -> None:
        self.last_id = last_id
        self.last_status = last_status

    @property
    def done(self) -> bool:
        return self.last_status in FINAL_STATUSES

    def record(self, status: str, outbox_id: int, doc: Mapping[str, Any]) -> StatusChange:
        self.last_status, self.last_id = status, max(self.last_id, outbox_id)
        return StatusChange(status, outbox_id, doc)

    def apply(self, change: ViewChange) -> StatusChange | None:
        if change.outbox_id <= self.last_id:
            return None  # sent already: the live feed repeats what the outbox catch-up read
        doc = change.data or {}
        status = doc.get("status")
        if isinstance(status, str) and status != self.last_status:
            return self.record(status, change.outbox_id, doc)
        self.last_id = change.outbox_id
        return None


async def order_status_changes(context: PushContext, order_id: UUID, snapshot: OrderSnapshot,
                               resume_after: int | None, *, kind: str,
                               idle_s: float | None = None) -> AsyncGenerator[StatusChange | None, None]:
    """The order's status now (or, resuming, every change after `resume_after`), then each change as it happens.

    Ends after a final status. Yields None whenever `idle_s` passes without a change (for keep-alives); raises
    SubscriberDropped when the hub lets go of the stream (too slow, or the server stops): the client resumes
    from the last outbox id it got. `kind` labels the open stream in the push-connections metric.
    """
    with context.hub.connect() as subscriber, PUSH_CONNECTIONS.labels(kind=kind).track_inprogress():
        if resume_after is None:
            tracker = _StatusTracker(0, None)
            yield tracker.record(snapshot.status or "", snapshot.outbox_id, snapshot.doc)
            after, including = snapshot.outbox_id, False
        else:
            tracker = _StatusTracker(resume_after, None)
            # The row the client saw last tells which status it knows, so that an unchanged one is not repeated.
            after, including = resume_after, True
        if tracker.done:
            return
        # Follow first, then read the outbox: whatever commits in between is in one or the other (or both).
        subscriber.follow(topic_of("order", order_id))
        missed = await asyncio.to_thread(context.queries.order_changes, order_id, after=after, including=including)
        if including and missed and missed[0].outbox_id == resume_after:
            known = (missed.pop(0).data or {}).get("status")
            tracker.last_status = known if isinstance(known, str) else None
        for change in missed:
            if (update := tracker.apply(change)) is not None:
                yield update
            if tracker.done:
                return
        if tracker.last_status is None and snapshot.status in FINAL_STATUSES and snapshot.outbox_id <= tracker.last_id:
            # Resumed past the end of an order whose rows the outbox no longer holds: nothing more will come.
            yield tracker.record(snapshot.status, snapshot.outbox_id, snapshot.doc)
            return
        while True:
            try:
                change = await asyncio.wait_for(subscriber.get(), idle_s)
            except TimeoutError:
                yield None
                continue
            if (update := tracker.apply(change)) is not None:
                yield update
            if tracker.done:
                return
