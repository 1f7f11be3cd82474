"""Which message broker the platform publishes to: RabbitMQ when configured, else the in-process one."""

from adapters.messaging import MessageBroker
from adapters.settings import Settings


def open_broker(settings: Settings) -> MessageBroker:
    if settings.amqp_url:
        from adapters.rabbitmq import RabbitMQBroker

        broker = RabbitMQBroker(settings.amqp_url, exchange=settings.amqp_exchange)
        broker.declare_topology()
        return broker
    from adapters.inprocess_broker import InProcessBroker

    return InProcessBroker()
