"""RabbitMQ ``MessageBroker`` on pika 1.4: the facade that ties the publisher, the consumers and the topology together.

Publishing goes through one publisher thread with pipelined confirms, or none for ``publish_unconfirmed``
(``adapters.rabbitmq_publisher``); each
subscription is a consumer with its own I/O and worker threads (``adapters.rabbitmq_consumer``); the exchanges
and queues are declared as ``adapters.rabbitmq_topology`` says.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pika

from adapters.messaging import EVENTS_EXCHANGE, Message, MessageHandler
from adapters.rabbitmq_connection import connection_parameters
from adapters.rabbitmq_consumer import RabbitMQSubscription
from adapters.rabbitmq_publisher import Publisher
from adapters.rabbitmq_topology import declare_exchanges

__all__ = ["RabbitMQBroker"]


class RabbitMQBroker:
    """``MessageBroker`` on RabbitMQ. Thread-safe; connects lazily, so constructing it needs no broker."""

    def __init__(
        self,
        url: str,
        *,
        exchange: str = EVENTS_EXCHANGE,
        connection_name: str = "logistics",
        dead_letter_exchange: str | None = None,
        prefetch: int = 100,
        publish_timeout: float = 30.0,
        subscribe_timeout: float = 30.0,
    ) -> None:
        self._url = url
        self._exchange = exchange
        # For the default exchange this is DEAD_LETTER_EXCHANGE.
        self._dead_letter_exchange = dead_letter_exchange or f"{exchange}.dlx"
        self._connection_name = connection_name
        self._prefetch = prefetch
        self._publish_timeout = publish_timeout
        self._subscribe_timeout = subscribe_timeout
        self._lock = threading.Lock()
        self._closed = False
        self._subscriptions: set[RabbitMQSubscription] = set()
        self._publisher = Publisher(
            connection_parameters(url, f"{connection_name}.publisher"),
            exchange,
            self._dead_letter_exchange,
            thread_name=f"{connection_name}-amqp-publisher",
        )

    @property
    def exchange(self) -> str:
        return self._exchange

    @property
    def dead_letter_exchange(self) -> str:
        return self._dead_letter_exchange

    def declare_topology(self) -> None:
        """Declare the events exchange and the DLX (idempotent). Raises ``pika.exceptions.AMQPError``."""
        connection = pika.BlockingConnection(connection_parameters(self._url, f"{self._connection_name}.setup"))
        try:
            declare_exchanges(connection.channel(), self._exchange, self._dead_letter_exchange)
        finally:
            connection.close()

    def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        self._publisher.publish(messages, self._publish_timeout)

    def publish_unconfirmed(self, messages: Sequence[Message]) -> None:
        if messages:
            self._publisher.publish_unconfirmed(messages)

    def subscribe(
        self, binding_keys: Sequence[str], handler: MessageHandler, *, queue: str | None = None
    ) -> RabbitMQSubscription:
        subscription = RabbitMQSubscription(
            parameters=connection_parameters(self._url, f"{self._connection_name}.consumer.{queue or 'private'}"),
            exchange=self._exchange,
            dead_letter_exchange=self._dead_letter_exchange,
            binding_keys=binding_keys,
            handler=handler,
            queue=queue,
            prefetch=self._prefetch,
            on_close=self._forget,
        )
        with self._lock:
            if self._closed:
                raise RuntimeError("broker is closed")
            self._subscriptions.add(subscription)
        subscription.start(self._subscribe_timeout)
        return subscription

    def ping(self, timeout_s: float = 3.0) -> bool:
        """Whether the broker accepts a connection now (for readiness probes)."""
        parameters = connection_parameters(self._url, f"{self._connection_name}.ping")
        parameters.socket_timeout = timeout_s
        parameters.connection_attempts = 1
        try:
            pika.BlockingConnection(parameters).close()
        except Exception:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.close()
        self._publisher.close()

    def _forget(self, subscription: RabbitMQSubscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)
