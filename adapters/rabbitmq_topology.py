"""The RabbitMQ topology: the events exchange and its dead-letter exchange, and each subscription's queues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from adapters.messaging import DELIVERY_LIMIT

__all__ = [
    "ExchangeDeclaration",
    "dead_letter_queue_name",
    "declare_exchanges",
    "declare_subscription_queue",
    "exchange_declarations",
    "named_queue_arguments",
]


class ExchangeDeclaration(NamedTuple):
    name: str
    exchange_type: str


def exchange_declarations(exchange: str, dead_letter_exchange: str) -> list[ExchangeDeclaration]:
    """The exchanges in the order they are declared; every declaration is durable."""
    return [ExchangeDeclaration(exchange, "topic"), ExchangeDeclaration(dead_letter_exchange, "direct")]


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dlq"


def named_queue_arguments(queue: str, dead_letter_exchange: str) -> dict[str, Any]:
    """Arguments of a shared queue. RabbitMQ refuses a redeclare with different arguments (PRECONDITION_FAILED)."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": dead_letter_exchange,
        # The DLX is a direct exchange: without an explicit key the dead letter keeps its topic key and would not
        # reach this queue's DLQ.
        "x-dead-letter-routing-key": dead_letter_queue_name(queue),
        "x-delivery-limit": DELIVERY_LIMIT,
        # at-least-once dead-lettering (quorum only) keeps a poison message until the DLQ has confirmed it; it is
        # only honoured together with overflow=reject-publish.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def declare_exchanges(channel: Any, exchange: str, dead_letter_exchange: str) -> None:
    """Idempotent on a ``BlockingChannel``."""
    for declaration in exchange_declarations(exchange, dead_letter_exchange):
        channel.exchange_declare(declaration.name, exchange_type=declaration.exchange_type, durable=True)


def declare_subscription_queue(
    channel: Any, exchange: str, dead_letter_exchange: str, queue: str | None, binding_keys: Sequence[str]
) -> str:
    """Declare the exchanges and the queue of a subscription, bound to its keys, on a ``BlockingChannel``.

    ``queue=None``: a private exclusive auto-delete queue; its server-generated name is returned.  A named queue is
    a durable quorum queue with its own dead-letter queue.
    """
    declare_exchanges(channel, exchange, dead_letter_exchange)
    if queue is None:
        frame = channel.queue_declare("", exclusive=True, auto_delete=True)
        name: str = frame.method.queue
    else:
        name = queue
        dead_letters = dead_letter_queue_name(name)
        channel.queue_declare(dead_letters, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(dead_letters, dead_letter_exchange, routing_key=dead_letters)
        channel.queue_declare(name, durable=True, arguments=named_queue_arguments(name, dead_letter_exchange))
    for binding_key in binding_keys:
        channel.queue_bind(name, exchange, routing_key=binding_key)
    return name
