"""In-process ``MessageBroker`` for the embedded mode: topic routing, private and shared queues, no RabbitMQ.

It mirrors the RabbitMQ adapter's observable behaviour closely enough that the same tests run against both:
publish returns once every message sits in every matching queue, each consumer handles its messages in publish
order on its own thread, a failing handler gets the message again, and after ``max_attempts`` failures the
message is dead-lettered (here: logged and dropped).  Nothing survives the process.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence

from adapters.messaging import DELIVERY_LIMIT, Message, MessageHandler, PublishFailed, topic_matches

__all__ = ["InProcessBroker", "InProcessSubscription"]

log = logging.getLogger(__name__)

_MAX_RETRY_DELAY = 1.0


class _Queue:
    """A queue with its bindings. Guarded by the broker's lock."""

    def __init__(self, name: str, *, durable: bool) -> None:
        self.name = name
        self.durable = durable
        self.binding_keys: set[str] = set()
        self.consumers: list[InProcessSubscription] = []
        # Messages for a shared queue that currently has no consumer, kept like a durable queue would.
        self.backlog: deque[Message] = deque()
        self._next_consumer = 0

    def matches(self, routing_key: str) -> bool:
        return any(topic_matches(key, routing_key) for key in self.binding_keys)

    def deliver(self, messages: Iterable[Message]) -> None:
        for message in messages:
            if not self.consumers:
                if self.durable:
                    self.backlog.append(message)
                continue
            # Round-robin, like RabbitMQ spreading a queue over competing consumers.
            consumer = self.consumers[self._next_consumer % len(self.consumers)]
            self._next_consumer += 1
            consumer._enqueue(message)


class InProcessSubscription:
    """One consumer: its own buffer and daemon dispatcher thread, so a slow handler blocks nobody else."""

    def __init__(
        self,
        broker: InProcessBroker,
        queue: _Queue,
        handler: MessageHandler,
        *,
        max_attempts: int,
        retry_delay: float,
    ) -> None:
        self._broker = broker
        self._queue = queue
        self._handler = handler
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._buffer: deque[Message] = deque()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._closed = False
        self._thread = threading.Thread(
            target=self._dispatch_loop, name=f"inprocess-consumer-{queue.name}", daemon=True
        )

    def _start(self) -> None:
        self._thread.start()

    def _enqueue(self, message: Message) -> None:
        with self._cond:
            self._buffer.append(message)
            self._cond.notify()

    def close(self) -> None:
        with self._broker._lock:
            if self._closed:
                return
            self._closed = True
            self._broker._detach(self)
        with self._cond:
            self._stopping.set()
            self._cond.notify()
        # A handler may close its own subscription; joining itself would deadlock.
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                log.warning("consumer of %s did not stop within 30 s (handler still running)", self._queue.name)
        with self._cond:
            leftover = list(self._buffer)
            self._buffer.clear()
        if leftover:
            # Not acknowledged, hence not lost: like RabbitMQ, hand them to the queue's other consumers.
            self._broker._requeue(self._queue, leftover)

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                while not self._buffer and not self._stopping.is_set():
                    self._cond.wait()
                if self._stopping.is_set():
                    return
                message = self._buffer.popleft()
            self._handle(message)

    def _handle(self, message: Message) -> None:
        for attempt in range(1, self._max_attempts + 1):
            try:
                self._handler(message)
            except Exception:
                if attempt == self._max_attempts:
                    log.exception(
                        "dead letter: handler on queue %s failed %d times on message %s (%s); dropping it",
                        self._queue.name,
                        attempt,
                        message.message_id,
                        message.routing_key,
                    )
                    return
                log.warning(
                    "handler on queue %s failed on message %s (attempt %d of %d); redelivering",
                    self._queue.name,
                    message.message_id,
                    attempt,
                    self._max_attempts,
                    exc_info=True,
                )
                # A short growing pause gives transient failures (a database restart) a chance to clear before
                # the attempts run out; the wait ends early on close.
                if self._stopping.wait(min(self._retry_delay * 2 ** (attempt - 1), _MAX_RETRY_DELAY)):
                    return
            else:
                return


class InProcessBroker:
    """Thread-safe in-memory topic broker. ``publish`` never blocks on consumers."""

    def __init__(self, *, max_attempts: int = DELIVERY_LIMIT, retry_delay: float = 0.05) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._lock = threading.RLock()
        self._named: dict[str, _Queue] = {}
        self._private: list[_Queue] = []
        self._private_ids = itertools.count(1)
        self._closed = False

    def publish(self, messages: Sequence[Message]) -> None:
        batch = list(messages)
        # Holding the lock for the whole batch keeps concurrent batches from interleaving, so every queue sees
        # the same global order.
        with self._lock:
            if self._closed:
                raise PublishFailed("broker is closed")
            for queue in itertools.chain(self._named.values(), self._private):
                routed = [message for message in batch if queue.matches(message.routing_key)]
                if routed:
                    queue.deliver(routed)

    def publish_unconfirmed(self, messages: Sequence[Message]) -> None:
        try:
            self.publish(messages)
        except PublishFailed:
            log.debug("broker is closed: %d unconfirmed message(s) dropped", len(messages))

    def subscribe(
        self, binding_keys: Sequence[str], handler: MessageHandler, *, queue: str | None = None
    ) -> InProcessSubscription:
        with self._lock:
            if self._closed:
                raise RuntimeError("broker is closed")
            if queue is None:
                target = _Queue(f"private-{next(self._private_ids)}", durable=False)
                self._private.append(target)
            else:
                target = self._named.setdefault(queue, _Queue(queue, durable=True))
            # Bindings accumulate on a shared queue, as they do on a RabbitMQ queue.
            target.binding_keys.update(binding_keys)
            subscription = InProcessSubscription(
                self, target, handler, max_attempts=self._max_attempts, retry_delay=self._retry_delay
            )
            target.consumers.append(subscription)
            subscription._start()
            if target.backlog:
                backlog = list(target.backlog)
                target.backlog.clear()
                target.deliver(backlog)
            return subscription

    def ping(self, timeout_s: float = 3.0) -> bool:
        return not self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            subscriptions = [sub for q in (*self._named.values(), *self._private) for sub in q.consumers]
        for subscription in subscriptions:
            subscription.close()

    def _detach(self, subscription: InProcessSubscription) -> None:
        with self._lock:
            queue = subscription._queue
            queue.consumers.remove(subscription)
            if not queue.durable and not queue.consumers:
                # Private queues are exclusive and auto-delete.
                self._private.remove(queue)

    def _requeue(self, queue: _Queue, messages: list[Message]) -> None:
        with self._lock:
            if queue.durable:
                queue.deliver(messages)
