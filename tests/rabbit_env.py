"""A private corner of the real RabbitMQ for one test: its own exchange and queues, removed afterwards."""

from typing import Any
from uuid import uuid4

import pika

from adapters.rabbitmq import RabbitMQBroker
from adapters.rabbitmq_topology import dead_letter_queue_name


class RabbitEnv:
    """Brokers on a private exchange, and the queues made on it; ``cleanup`` removes all of it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.exchange = f"test.{uuid4().hex}"
        self.dead_letter_exchange = f"{self.exchange}.dlx"
        self._brokers: list[RabbitMQBroker] = []
        self._queues: list[str] = []

    def broker(self, url: str | None = None, **kwargs: Any) -> RabbitMQBroker:
        broker = RabbitMQBroker(url or self.url, exchange=self.exchange, connection_name=self.exchange, **kwargs)
        self._brokers.append(broker)
        return broker

    def queue(self) -> str:
        name = f"{self.exchange}.q{len(self._queues)}"
        self._queues.append(name)
        return name

    def connection(self) -> Any:
        return pika.BlockingConnection(pika.URLParameters(self.url))

    def dead_letters(self, queue: str) -> list[tuple[Any, bytes]]:
        connection = self.connection()
        try:
            channel = connection.channel()
            found: list[tuple[Any, bytes]] = []
            while True:
                method, properties, body = channel.basic_get(dead_letter_queue_name(queue), auto_ack=True)
                if method is None:
                    return found
                found.append((properties, body))
        finally:
            connection.close()

    def cleanup(self) -> None:
        for broker in self._brokers:
            broker.close()
        connection = self.connection()
        try:
            channel = connection.channel()
            for queue in self._queues:
                channel.queue_delete(queue)
                channel.queue_delete(dead_letter_queue_name(queue))
            channel.exchange_delete(self.exchange)
            channel.exchange_delete(self.dead_letter_exchange)
        finally:
            connection.close()
