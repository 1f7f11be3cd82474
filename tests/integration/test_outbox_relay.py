"""The relay on the real PostgreSQL: rows go out in order and are marked sent; with the broker away they wait."""

import threading
import time
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY
from psycopg.types.json import Jsonb

from adapters.database import Database
from adapters.inprocess_broker import InProcessBroker
from adapters.messaging import Message, PublishFailed
from adapters.outbox_relay import OutboxRelay
from adapters.postgres_read_models import put_on_outbox
from adapters.rabbitmq import RabbitMQBroker
from composition.migration import migrate
from projections.messages import OutboxMessage
from tests.rabbit_env import RabbitEnv


def add_rows(database: Database, count: int) -> list[str]:
    ids = [str(uuid4()) for _ in range(count)]
    with database.connect() as connection:
        for message_id in ids:
            connection.execute("INSERT INTO read.outbox (message_id, routing_key, aggregate_id, body) "
                               "VALUES (%s, 'order.created', %s, %s)", (message_id, uuid4(), Jsonb({"id": message_id})))
    return ids


def unsent(database: Database) -> int:
    with database.connect() as connection:
        row = connection.execute("SELECT count(*) FROM read.outbox WHERE published_at IS NULL").fetchone()
    return int(row[0]) if row else -1


def test_rows_go_out_in_order_and_are_marked_sent(database: Database) -> None:
    migrate(database)
    ids = add_rows(database, 5)
    broker = InProcessBroker()
    received: list[Message] = []
    done = threading.Event()

    def collect(message: Message) -> None:
        received.append(message)
        if len(received) == len(ids):
            done.set()

    broker.subscribe(["#"], collect)
    before = REGISTRY.get_sample_value("logistics_relay_published_total") or 0.0
    try:
        assert OutboxRelay(database, broker).relay_batch() == 5
        assert done.wait(10)
    finally:
        broker.close()
    assert [message.message_id for message in received] == ids
    assert unsent(database) == 0
    assert (REGISTRY.get_sample_value("logistics_relay_published_total") or 0.0) - before == 5


def test_with_the_broker_unreachable_the_rows_wait(database: Database) -> None:
    migrate(database)
    add_rows(database, 3)
    broker = RabbitMQBroker("amqp://guest:guest@127.0.0.1:1/%2F", publish_timeout=5.0)
    try:
        with pytest.raises(PublishFailed):
            OutboxRelay(database, broker).relay_batch()
    finally:
        broker.close()
    assert unsent(database) == 3


def test_a_consumer_receives_exactly_the_bytes_that_encoded_gives(database: Database, rabbit: RabbitEnv) -> None:
    migrate(database)
    # Keys whose jsonb order (shorter first) is not their sorted order, nesting, non-ASCII text and a float: the
    # ways a body read back from jsonb and encoded again could come out different.
    messages = [
        OutboxMessage(
            message_id=str(uuid4()),
            routing_key="order.created",
            aggregate_id=uuid4(),
            body={"type": "Order.Placed", "id": str(uuid4()), "aggregate_id": "a", "version": 1,
                  "data": {"zeta": "Jalan Merdeka Selatan — Monas", "lat": -6.175392, "lines": [{"quantity": 2}]}},
        ),
        OutboxMessage(message_id=str(uuid4()), routing_key="view.order.deleted", aggregate_id=uuid4(),
                      body={"view": "order", "data": None, "caused_by": "x"}),
    ]
    with database.connect() as connection, connection.cursor() as cursor:
        put_on_outbox(cursor, messages)
    broker = rabbit.broker()
    received: dict[str, bytes] = {}
    done = threading.Event()

    def collect(message: Message) -> None:
        received[message.message_id] = message.body
        if len(received) == len(messages):
            done.set()

    broker.subscribe(["#"], collect)
    assert OutboxRelay(database, broker).relay_batch() == len(messages)
    assert done.wait(10)
    assert received == {message.message_id: message.encoded() for message in messages}


def test_the_running_relay_publishes_rows_committed_while_it_runs(database: Database) -> None:
    migrate(database)
    broker = InProcessBroker()
    received: list[str] = []
    all_arrived = threading.Event()

    def collect(message: Message) -> None:
        received.append(message.message_id)
        if len(received) == 3:
            all_arrived.set()

    broker.subscribe(["#"], collect)
    stop, wakeup = threading.Event(), threading.Event()
    relay = threading.Thread(target=OutboxRelay(database, broker, wakeup=wakeup).run, args=(stop,))
    relay.start()
    try:
        ids = add_rows(database, 3)
        wakeup.set()
        assert all_arrived.wait(10)
        # Rows are marked sent just after the broker took them.
        deadline = time.monotonic() + 10
        while unsent(database) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        relay.join(10)
        broker.close()
    assert not relay.is_alive()
    assert received == ids
    assert unsent(database) == 0
