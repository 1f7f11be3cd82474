"""Publisher confirms: which batch each delivery tag belongs to, and resolving a batch once all of it is confirmed."""

from __future__ import annotations

import concurrent.futures
import itertools
from dataclasses import dataclass, field

from adapters.messaging import Message, PublishFailed

__all__ = ["PendingConfirms", "PublishBatch"]


@dataclass(eq=False)
class PublishBatch:
    """One caller's messages; its future resolves when the broker confirmed all of them, or fails."""

    messages: list[Message]
    future: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)
    unconfirmed: int = 0

    def fail(self, reason: str) -> None:
        # Only the I/O thread resolves futures, so checking then setting does not race.
        if not self.future.done():
            self.future.set_exception(PublishFailed(reason))

    def confirm_one(self) -> None:
        self.unconfirmed -= 1
        if self.unconfirmed == 0 and not self.future.done():
            self.future.set_result(None)


class PendingConfirms:
    """The published, not yet confirmed messages of one channel, by delivery tag. Used on the I/O thread only."""

    def __init__(self) -> None:
        # Tags grow by one per basic_publish on a channel, so insertion order is tag order.
        self._batches: dict[int, PublishBatch] = {}
        # Tags of messages nobody waits for (``publish_unconfirmed``): counted, so that they stay bounded.
        self._untracked: dict[int, None] = {}
        self._last_tag = 0

    def new_channel(self) -> None:
        """A channel in confirm mode numbers its deliveries from 1 again."""
        self._last_tag = 0
        self._untracked.clear()

    @property
    def untracked_in_flight(self) -> int:
        """Messages published without a waiting caller that the broker has not confirmed yet."""
        return len(self._untracked)

    def published_untracked(self) -> None:
        """A message nobody waits for went out; its tag is taken, and its confirm only counted."""
        self._last_tag += 1
        self._untracked[self._last_tag] = None

    def published(self, batch: PublishBatch) -> None:
        """One message of ``batch`` went out (and consumed the channel's next delivery tag)."""
        self._last_tag += 1
        self._batches[self._last_tag] = batch
        batch.unconfirmed += 1

    def settle(self, tag: int, *, multiple: bool, acked: bool) -> None:
        """The broker acked or nacked ``tag`` (and, with ``multiple``, every earlier tag)."""
        if multiple:
            tags = list(itertools.takewhile(lambda t: t <= tag, self._batches))
            for untracked in list(itertools.takewhile(lambda t: t <= tag, self._untracked)):
                del self._untracked[untracked]
        else:
            tags = [tag] if tag in self._batches else []
            self._untracked.pop(tag, None)
        for confirmed in tags:
            batch = self._batches.pop(confirmed)
            if acked:
                batch.confirm_one()
            else:
                batch.fail("broker nacked the message (internal error in the broker)")

    def abandon(self) -> list[PublishBatch]:
        """Forget every pending confirm (the channel is gone) and return the batches they belonged to, once each."""
        batches = list(dict.fromkeys(self._batches.values()))
        self._batches.clear()
        self._untracked.clear()
        return batches
