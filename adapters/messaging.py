"""Messaging port: what the application needs from a message broker, independent of any client library.

Two adapters implement it: ``adapters.inprocess_broker.InProcessBroker`` (embedded mode, no RabbitMQ) and
``adapters.rabbitmq.RabbitMQBroker`` (pika).  Delivery is at-least-once in both, so consumers de-duplicate on
``Message.message_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "DELIVERY_LIMIT",
    "EVENTS_EXCHANGE",
    "Message",
    "MessageBroker",
    "MessageHandler",
    "PublishFailed",
    "Subscription",
    "topic_matches",
]

EVENTS_EXCHANGE = "logistics.events"
DEAD_LETTER_EXCHANGE = "logistics.events.dlx"

# Bounds how often a failing handler sees one message before it is dead-lettered.  Shared RabbitMQ queues get it
# as x-delivery-limit, which counts *re*deliveries (RabbitMQ 3.10 hands the message out 1 + 5 times); the
# in-process broker and RabbitMQ private queues give up after this many failed attempts.
DELIVERY_LIMIT = 5

HeaderValue = str | int


class _FrozenHeaders(Mapping[str, HeaderValue]):
    """Read-only, hashable copy of the headers, so that a frozen ``Message`` is really immutable and hashable."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, HeaderValue]) -> None:
        items: dict[str, HeaderValue] = {}
        for key, value in data.items():
            if not isinstance(key, str):
                raise TypeError(f"header names must be str, got {key!r}")
            # bool is an int subclass and AMQP can carry it, so it is allowed through on purpose.
            if not isinstance(value, str | int):
                raise TypeError(f"header {key!r} must be str or int, got {type(value).__name__}")
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                # AMQP has no wider integer; fail here rather than inside the publisher.
                raise ValueError(f"header {key!r} does not fit in 64 bits")
            items[key] = value
        self._data = items

    def __getitem__(self, key: str) -> HeaderValue:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)


@dataclass(frozen=True)
class Message:
    routing_key: str
    """Topic routing key ``<context>.<fact>``, e.g. ``order.created`` or ``view.order.updated``."""
    body: bytes
    """The serialized envelope (JSON)."""
    message_id: str
    """Stable id (event id or outbox id) that consumers de-duplicate on; a re-publish keeps it."""
    content_type: str = "application/json"
    headers: Mapping[str, HeaderValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, _FrozenHeaders):
            # Copy, so that a caller mutating its dict afterwards cannot change a message already handed over.
            object.__setattr__(self, "headers", _FrozenHeaders(self.headers))


class PublishFailed(Exception):
    """The broker did not confirm every message of a batch (unreachable, connection lost, nack, closed).

    Some messages of the batch may nevertheless have been delivered: retry with the same ``message_id``s.
    A message that no queue is bound for is *not* a failure; the topic exchange drops it.
    """


MessageHandler = Callable[[Message], None]


class Subscription(Protocol):
    def close(self) -> None:
        """Stop consuming. Messages not yet acknowledged are redelivered (named queue) or dropped (private)."""
        ...


class MessageBroker(Protocol):
    def publish(self, messages: Sequence[Message]) -> None:
        """Publish in order; return only when the broker has confirmed every message, else raise PublishFailed."""
        ...

    def publish_unconfirmed(self, messages: Sequence[Message]) -> None:
        """Hand the messages over and return at once, never raising: no confirm is awaited and nothing is
        retried, so a message may be lost (the broker unreachable or behind). Only for what the next message
        replaces anyway (a courier's position), never for facts."""
        ...

    def subscribe(
        self, binding_keys: Sequence[str], handler: MessageHandler, *, queue: str | None = None
    ) -> Subscription:
        """Deliver matching messages (AMQP topic semantics: '*' one word, '#' zero or more) to handler, in
        publish order, on a background thread.

        queue=None: a private exclusive auto-delete queue (one per subscriber, e.g. per query-API instance).
        queue=NAME: a durable quorum queue with a dead-letter exchange and a delivery limit, shared by competing
        consumers.  The message is acknowledged only after handler returns; if handler raises, it is redelivered
        (nack requeue) until ``DELIVERY_LIMIT`` is reached, then dead-lettered.
        """
        ...

    def ping(self, timeout_s: float = 3.0) -> bool:
        """Whether the broker is reachable now."""
        ...

    def close(self) -> None: ...


def _split_words(key: str) -> list[str]:
    # RabbitMQ treats the empty key as zero words but keeps empty words elsewhere ("a." is ["a", ""]), while
    # "".split(".") would give one empty word.
    return key.split(".") if key else []


def topic_matches(binding_key: str, routing_key: str) -> bool:
    """Whether a topic exchange routes ``routing_key`` to a queue bound with ``binding_key``.

    ``*`` stands for exactly one word and ``#`` for zero or more words; words are separated by dots.
    """
    pattern = _split_words(binding_key)
    words = _split_words(routing_key)
    # reachable[j]: the pattern prefix processed so far can match the first j words.
    reachable = [True] + [False] * len(words)
    for token in pattern:
        if token == "#":
            # '#' extends any reachable prefix by any number of words.
            for j in range(1, len(words) + 1):
                reachable[j] = reachable[j] or reachable[j - 1]
        else:
            for j in range(len(words), 0, -1):
                reachable[j] = reachable[j - 1] and (token in ("*", words[j - 1]))
            reachable[0] = False
    return reachable[len(words)]
