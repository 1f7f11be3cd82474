"""Benchmark: the outbox relay's publish rate to RabbitMQ, with publisher confirms, in messages per second."""

import time
from uuid import uuid4

from psycopg.types.json import Jsonb
from rich.console import Console
from rich.table import Table

from adapters.database import READ_SCHEMA, Database, create_database, drop_database
from adapters.outbox_relay import OutboxRelay
from adapters.rabbitmq import RabbitMQBroker
from composition.migration import migrate


def bench_relay(server_url: str, amqp_url: str, messages: int, batch_size: int) -> tuple[int, float]:
    server = Database.from_url(server_url)
    database = create_database(server, f"logistics_bench_{uuid4().hex[:10]}")
    exchange = f"bench.{uuid4().hex[:10]}"
    broker = RabbitMQBroker(amqp_url, exchange=exchange, connection_name=exchange)
    try:
        migrate(database)
        broker.declare_topology()
        # A queue bound to everything, so the broker really routes and stores each message.
        queue = f"{exchange}.all"
        subscription_free_queue(amqp_url, exchange, queue)
        with database.connect() as connection, connection.cursor() as cursor:
            body = {"type": "Order.Placed", "data": {"customer_id": "bench", "total": "9.99"}}
            with cursor.copy(f"COPY {READ_SCHEMA}.outbox (message_id, routing_key, aggregate_id, body) FROM STDIN") \
                    as copy:
                for _ in range(messages):
                    copy.write_row((str(uuid4()), "order.created", uuid4(), Jsonb(body)))
        relay = OutboxRelay(database, broker, batch_size=batch_size)
        started = time.perf_counter()
        while relay.relay_batch():
            pass
        return messages, time.perf_counter() - started
    finally:
        broker.close()
        delete_exchange(amqp_url, exchange)
        drop_database(server, database.dbname)


def subscription_free_queue(amqp_url: str, exchange: str, queue: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(queue, exchange, routing_key="#")
    finally:
        connection.close()


def delete_exchange(amqp_url: str, exchange: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.queue_delete(f"{exchange}.all")
        channel.exchange_delete(exchange)
        channel.exchange_delete(f"{exchange}.dlx")
    finally:
        connection.close()


def report_relay(messages: int, seconds: float, batch_size: int) -> None:
    table = Table(title=f"Outbox relay to RabbitMQ (confirms, quorum queue, batches of {batch_size})")
    for column in ("messages", "seconds", "messages/s"):
        table.add_column(column, justify="right")
    table.add_row(f"{messages:,}", f"{seconds:.2f}", f"{messages / seconds:,.0f}")
    Console().print(table)
