"""The MessageBroker contract, against the real RabbitMQ and the in-process broker.

Every RabbitMQ test works on an exchange (and DLX, queues) of its own, deleted afterwards, so runs never collide.
Negative checks ("X was not delivered") rely on per-subscriber ordering: a sentinel published last is awaited,
after which everything published before it has been seen.
"""

from __future__ import annotations

import itertools
import logging
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest

from adapters.inprocess_broker import InProcessBroker
from adapters.messaging import DELIVERY_LIMIT, Message, MessageBroker, PublishFailed, topic_matches
from tests.rabbit_env import RabbitEnv
from tests.waiting import eventually

WAIT_S = 60.0


def message(routing_key: str, message_id: str | None = None, **headers: str | int) -> Message:
    message_id = message_id or uuid4().hex
    return Message(
        routing_key=routing_key, body=f'{{"id": "{message_id}"}}'.encode(), message_id=message_id, headers=headers
    )


def batch(prefix: str, count: int, routing_key: str = "order.created") -> list[Message]:
    return [message(routing_key, f"{prefix}-{i}") for i in range(count)]


class Inbox:
    """A handler that records what it gets; ``fail_when(message, attempt)`` makes it raise instead."""

    def __init__(
        self, fail_when: Callable[[Message, int], bool] | None = None, cond: threading.Condition | None = None
    ) -> None:
        self._fail_when = fail_when
        # Inboxes waited on together must share the condition, or a delivery to one never wakes the waiter.
        self._cond = cond or threading.Condition()
        self.received: list[Message] = []
        self.attempts: Counter[str] = Counter()

    def __call__(self, msg: Message) -> None:
        with self._cond:
            self.attempts[msg.message_id] += 1
            attempt = self.attempts[msg.message_id]
            self._cond.notify_all()
        if self._fail_when is not None and self._fail_when(msg, attempt):
            raise RuntimeError(f"handler refuses {msg.message_id} (attempt {attempt})")
        with self._cond:
            self.received.append(msg)
            self._cond.notify_all()

    @property
    def ids(self) -> list[str]:
        with self._cond:
            return [m.message_id for m in self.received]

    def wait_for(self, predicate: Callable[[Inbox], bool], what: str, timeout: float = WAIT_S) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                pytest.fail(f"timed out after {timeout} s waiting for {what}; got {len(self.received)} messages")

    def wait_for_ids(self, ids: Sequence[str], timeout: float = WAIT_S) -> None:
        wanted = set(ids)
        self.wait_for(lambda inbox: wanted <= {m.message_id for m in inbox.received}, f"{len(wanted)} ids", timeout)


# ---- RabbitMQ fixtures -------------------------------------------------------------------------------------


@dataclass
class Harness:
    kind: str
    broker: MessageBroker
    new_queue: Callable[[], str]


@pytest.fixture(params=["inprocess", "rabbitmq"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "inprocess":
        broker = InProcessBroker(retry_delay=0.01)
        try:
            yield Harness("inprocess", broker, lambda: f"test.{uuid4().hex}")
        finally:
            broker.close()
    else:
        rabbit: RabbitEnv = request.getfixturevalue("rabbit")
        yield Harness("rabbitmq", rabbit.broker(), rabbit.queue)


# ---- shared behaviour --------------------------------------------------------------------------------------


def test_topic_routing(harness: Harness) -> None:
    shipments, created = Inbox(), Inbox()
    harness.broker.subscribe(["order.*", "shipment.#"], shipments)
    harness.broker.subscribe(["*.created", "#.delivered"], created)
    keys = [
        "order.created",
        "order.created.v2",
        "order",
        "shipment",
        "shipment.location_updated",
        "shipment.delivered",
        "courier.shipment.delivered",
        "stock.created",
        "payment.success",
    ]
    harness.broker.publish([message(key, key) for key in keys] + [message("order.created", "sentinel")])

    shipments.wait_for_ids(["sentinel"])
    created.wait_for_ids(["sentinel"])
    assert shipments.ids == ["order.created", "shipment", "shipment.location_updated", "shipment.delivered", "sentinel"]
    assert created.ids == [
        "order.created",
        "shipment.delivered",
        "courier.shipment.delivered",
        "stock.created",
        "sentinel",
    ]


def test_500_messages_arrive_in_publish_order(harness: Harness) -> None:
    inbox = Inbox()
    harness.broker.subscribe(["order.*"], inbox)
    messages = batch("m", 500)

    harness.broker.publish(messages[:300])
    for msg in messages[300:450]:
        harness.broker.publish([msg])
    harness.broker.publish(messages[450:])

    inbox.wait_for(lambda i: len(i.received) >= 500, "500 messages")
    assert inbox.ids == [m.message_id for m in messages]


def test_message_id_headers_and_content_type_are_preserved(harness: Harness) -> None:
    inbox = Inbox()
    harness.broker.subscribe(["payment.*"], inbox)
    sent = Message(
        routing_key="payment.success",
        body='{"amount": "12.50", "note": "Gr\u00fc\u00dfe \u2713"}'.encode(),
        message_id="evt-0001",
        content_type="application/vnd.logistics.event+json",
        headers={"correlation-id": "corr-7", "stream-version": 42, "schema-version": 1},
    )

    harness.broker.publish([sent])

    inbox.wait_for_ids(["evt-0001"])
    (received,) = inbox.received
    assert received == sent
    assert dict(received.headers) == {"correlation-id": "corr-7", "stream-version": 42, "schema-version": 1}


def test_publishing_with_no_queue_bound_is_not_a_failure(harness: Harness) -> None:
    harness.broker.publish([message("nobody.listens")])


def test_publishing_an_empty_batch_is_a_no_op(harness: Harness) -> None:
    harness.broker.publish([])


def test_every_private_subscriber_gets_every_message(harness: Harness) -> None:
    first, second = Inbox(), Inbox()
    harness.broker.subscribe(["order.*"], first)
    harness.broker.subscribe(["order.*"], second)
    messages = batch("fanout", 50)

    harness.broker.publish(messages)

    first.wait_for_ids([m.message_id for m in messages])
    second.wait_for_ids([m.message_id for m in messages])
    assert first.ids == second.ids == [m.message_id for m in messages]


def test_named_queue_spreads_messages_over_competing_consumers(harness: Harness) -> None:
    queue = harness.new_queue()
    shared = threading.Condition()
    first, second = Inbox(cond=shared), Inbox(cond=shared)
    harness.broker.subscribe(["order.*"], first, queue=queue)
    harness.broker.subscribe(["order.*"], second, queue=queue)
    messages = batch("work", 200)

    harness.broker.publish(messages)

    everything = {m.message_id for m in messages}
    first.wait_for(lambda _: everything <= set(first.ids) | set(second.ids), "all 200 across both consumers")
    assert first.ids
    assert second.ids
    assert len(first.ids) + len(second.ids) == len(messages)


def test_named_queue_keeps_messages_while_nobody_consumes(harness: Harness) -> None:
    queue = harness.new_queue()
    harness.broker.subscribe(["order.*"], Inbox(), queue=queue).close()
    messages = batch("kept", 10)

    harness.broker.publish(messages)
    inbox = Inbox()
    harness.broker.subscribe(["order.*"], inbox, queue=queue)

    inbox.wait_for_ids([m.message_id for m in messages])
    assert inbox.ids == [m.message_id for m in messages]


@pytest.mark.parametrize("shared", [False, True], ids=["private", "named"])
def test_failed_handler_gets_the_message_again(harness: Harness, shared: bool) -> None:
    inbox = Inbox(fail_when=lambda msg, attempt: msg.message_id == "flaky-2" and attempt == 1)
    harness.broker.subscribe(["order.*"], inbox, queue=harness.new_queue() if shared else None)
    messages = batch("flaky", 5)

    harness.broker.publish(messages)

    inbox.wait_for_ids([m.message_id for m in messages])
    assert sorted(inbox.ids) == sorted(m.message_id for m in messages)
    assert inbox.attempts["flaky-2"] == 2
    assert all(inbox.attempts[m.message_id] == 1 for m in messages if m.message_id != "flaky-2")


@pytest.mark.parametrize(
    ("kind", "shared"),
    [("inprocess", False), ("inprocess", True), ("rabbitmq", False)],
    ids=["inprocess-private", "inprocess-named", "rabbitmq-private"],
)
def test_poison_message_is_dropped_after_the_delivery_limit(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, kind: str, shared: bool
) -> None:
    broker: MessageBroker
    if kind == "inprocess":
        broker = InProcessBroker(retry_delay=0.01)
        request.addfinalizer(broker.close)
        queue = f"test.{uuid4().hex}" if shared else None
    else:
        rabbit: RabbitEnv = request.getfixturevalue("rabbit")
        broker = rabbit.broker()
        queue = None
    inbox = Inbox(fail_when=lambda msg, _attempt: msg.message_id == "poison")
    broker.subscribe(["order.*"], inbox, queue=queue)

    with caplog.at_level(logging.ERROR):
        broker.publish([message("order.created", "poison")])
        inbox.wait_for(lambda i: i.attempts["poison"] >= DELIVERY_LIMIT, "the last attempt")
        broker.publish([message("order.created", "after")])
        inbox.wait_for_ids(["after"])

    assert inbox.attempts["poison"] == DELIVERY_LIMIT
    assert inbox.ids == ["after"]
    assert any("dead letter" in record.getMessage() for record in caplog.records)


def test_concurrent_publishers_each_keep_their_order(harness: Harness) -> None:
    inbox = Inbox()
    harness.broker.subscribe(["order.*"], inbox)
    per_thread = {t: batch(f"t{t}", 100) for t in range(4)}
    errors: list[BaseException] = []

    def publish_all(messages: list[Message]) -> None:
        try:
            for start in range(0, len(messages), 10):
                harness.broker.publish(messages[start : start + 10])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish_all, args=(msgs,)) for msgs in per_thread.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    inbox.wait_for(lambda i: len(i.received) >= 400, "400 messages")
    assert len(inbox.ids) == 400
    for t, messages in per_thread.items():
        assert [i for i in inbox.ids if i.startswith(f"t{t}-")] == [m.message_id for m in messages]


def test_a_slow_handler_blocks_neither_publisher_nor_other_subscribers(harness: Harness) -> None:
    release = threading.Event()
    stuck = Inbox(fail_when=lambda _msg, _attempt: not release.wait(WAIT_S))
    inbox = Inbox()
    harness.broker.subscribe(["order.*"], stuck)
    harness.broker.subscribe(["order.*"], inbox)
    messages = batch("slow", 20)

    try:
        harness.broker.publish(messages)
        inbox.wait_for_ids([m.message_id for m in messages])
        assert stuck.ids == []
    finally:
        release.set()
    stuck.wait_for_ids([m.message_id for m in messages])


def test_publish_after_close_fails(harness: Harness) -> None:
    harness.broker.close()
    with pytest.raises(PublishFailed):
        harness.broker.publish([message("order.created")])


def test_an_unconfirmed_publish_reaches_a_subscriber_in_order(harness: Harness) -> None:
    positions = Inbox()
    harness.broker.subscribe(["position.courier.*"], positions)
    harness.broker.publish([message("order.created", "connected")])  # one not waited for may go before that
    sent = batch("position", 50, routing_key="position.courier.c-1")

    harness.broker.publish_unconfirmed(sent)

    positions.wait_for_ids([m.message_id for m in sent])
    assert positions.ids == [m.message_id for m in sent]


def test_an_unconfirmed_publish_after_close_is_dropped_quietly(harness: Harness) -> None:
    harness.broker.close()

    harness.broker.publish_unconfirmed([message("position.courier.c-1")])


# ---- RabbitMQ only -----------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_publish_fails_when_the_broker_is_unreachable(rabbit: RabbitEnv) -> None:
    broker = rabbit.broker("amqp://guest:guest@127.0.0.1:1/%2F")

    with pytest.raises(PublishFailed):
        broker.publish([message("order.created")])
    # The second attempt goes through the reconnect backoff and fails the same way.
    with pytest.raises(PublishFailed):
        broker.publish([message("order.created")])


def test_poison_message_on_a_named_queue_goes_to_its_dead_letter_queue(rabbit: RabbitEnv) -> None:
    broker = rabbit.broker()
    queue = rabbit.queue()
    inbox = Inbox(fail_when=lambda msg, _attempt: msg.message_id == "poison")
    broker.subscribe(["order.*"], inbox, queue=queue)

    broker.publish([message("order.created", "poison", **{"correlation-id": "c-1"})])

    dead: list[tuple[Any, bytes]] = eventually(lambda: rabbit.dead_letters(queue), timeout=WAIT_S, interval=0.2,
                                               what="the poison message in the dead letter queue")
    assert [properties.message_id for properties, _ in dead] == ["poison"]
    properties, body = dead[0]
    assert body == b'{"id": "poison"}'
    assert properties.headers["correlation-id"] == "c-1"
    assert properties.headers["x-death"][0]["reason"] == "delivery_limit"
    # x-delivery-limit counts redeliveries, so the handler saw it once more than the limit (RabbitMQ 3.10).
    assert inbox.attempts["poison"] >= DELIVERY_LIMIT
    assert inbox.received == []


def test_an_unconfirmed_publish_while_the_broker_is_unreachable_is_dropped_without_waiting(
    rabbit: RabbitEnv,
) -> None:
    broker = rabbit.broker("amqp://guest:guest@127.0.0.1:1/%2F")
    started = time.monotonic()

    for _ in range(100):
        broker.publish_unconfirmed([message("position.courier.c-1")])

    assert time.monotonic() - started < 1.0


def test_publisher_recovers_from_a_channel_error(rabbit: RabbitEnv) -> None:
    broker = rabbit.broker()
    inbox = Inbox()
    broker.publish([message("order.created", "first")])
    connection = rabbit.connection()
    try:
        # Publishing to a missing exchange is a channel error (404) that closes the publisher's channel.
        connection.channel().exchange_delete(rabbit.exchange)
    finally:
        connection.close()

    with pytest.raises(PublishFailed):
        broker.publish([message("order.created", "lost")])
    # The next publish reconnects, which re-declares the exchange.
    _publish_until_confirmed(broker, [message("order.created", "second")])
    broker.subscribe(["order.*"], inbox)
    broker.publish([message("order.created", "third")])
    inbox.wait_for_ids(["third"])


def test_subscriber_recovers_when_its_queue_is_deleted(rabbit: RabbitEnv) -> None:
    broker = rabbit.broker()
    queue = rabbit.queue()
    inbox = Inbox()
    broker.subscribe(["order.*"], inbox, queue=queue)
    connection = rabbit.connection()
    try:
        # The broker cancels the consumer (basic.cancel); the subscription must re-declare and consume again.
        connection.channel().queue_delete(queue)
    finally:
        connection.close()

    probe_until_received(inbox, lambda probe: broker.publish([probe]))
    after = batch("after", 20)
    broker.publish(after)
    inbox.wait_for_ids([m.message_id for m in after])


def test_rabbitmq_routes_like_topic_matches(rabbit: RabbitEnv) -> None:
    """Pins the pure helper (used by the in-process broker) to what RabbitMQ really does, edge cases included."""
    binding_keys = ["#", "*", "order.*", "order.#", "*.created", "#.delivered", "a.#.b", "#.#", "*.#", "a.*", ""]
    routing_keys = [
        "",
        "order",
        "order.created",
        "order.created.v2",
        "x.delivered",
        "delivered",
        "a.b",
        "a.x.y.b",
        "a.",
    ]
    connection = rabbit.connection()
    try:
        channel = connection.channel()
        rabbit.broker().declare_topology()
        queues = {}
        for binding_key in binding_keys:
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queue, rabbit.exchange, routing_key=binding_key)
            channel.queue_bind(queue, rabbit.exchange, routing_key="zz.sentinel.end")
            queues[binding_key] = queue

        rabbit.broker().publish(
            [message(key, f"key:{key}") for key in routing_keys] + [message("zz.sentinel.end", "sentinel")]
        )

        for binding_key, queue in queues.items():
            routed: list[str] = []

            def up_to_the_sentinel(queue: str = queue, routed: list[str] = routed) -> bool:
                while "sentinel" not in routed:
                    method, properties, _ = channel.basic_get(queue, auto_ack=True)
                    if method is None:
                        return False
                    routed.append(properties.message_id)
                return True

            eventually(up_to_the_sentinel, timeout=WAIT_S, what=f"the sentinel routed through {binding_key!r}")
            expected = [f"key:{key}" for key in routing_keys if topic_matches(binding_key, key)]
            assert routed[:-1] == expected, f"binding key {binding_key!r}"
    finally:
        connection.close()


def test_declare_topology_is_idempotent(rabbit: RabbitEnv) -> None:
    broker = rabbit.broker()
    broker.declare_topology()
    broker.declare_topology()

    connection = rabbit.connection()
    try:
        channel = connection.channel()
        channel.exchange_declare(rabbit.exchange, passive=True)
        channel.exchange_declare(rabbit.dead_letter_exchange, passive=True)
    finally:
        connection.close()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def _publish_until_confirmed(broker: MessageBroker, messages: Sequence[Message], timeout: float = 60.0) -> None:
    def published() -> bool:
        broker.publish(messages)
        return True

    eventually(published, timeout=timeout, interval=0.5, retrying=(PublishFailed,), what="the broker confirming")


def probe_until_received(inbox: Inbox, publish: Callable[[Message], None]) -> None:
    """Publish a probe now and then until one arrives: the subscription is back and consuming."""
    probes = itertools.count()

    def probed() -> bool:
        if any(received.startswith("probe-") for received in inbox.ids):
            return True
        publish(message("order.created", f"probe-{next(probes)}"))
        return False

    eventually(probed, timeout=WAIT_S, interval=0.2, what="the subscriber receiving again")


@pytest.mark.timeout(300)
def test_publisher_and_subscribers_recover_after_a_broker_restart(rabbit: RabbitEnv) -> None:
    broker = rabbit.broker()
    queue = rabbit.queue()
    durable, private = Inbox(), Inbox()
    broker.subscribe(["order.*"], durable, queue=queue)
    broker.subscribe(["order.*"], private)
    before = batch("before", 10)
    broker.publish(before)
    durable.wait_for_ids([m.message_id for m in before])
    private.wait_for_ids([m.message_id for m in before])

    _rabbitmqctl("stop_app")
    try:
        with pytest.raises(PublishFailed):
            broker.publish([message("order.created", "while-down")])
    finally:
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")

    # Published as soon as the publisher is back, possibly before the consumers are: the durable queue holds them.
    after = batch("after", 100)
    _publish_until_confirmed(broker, after)
    durable.wait_for_ids([m.message_id for m in after])

    # A private queue is re-created on reconnect and only sees what is published after that; probe until it is
    # back, then every message must reach both subscribers.
    probe_until_received(private, lambda probe: _publish_until_confirmed(broker, [probe]))
    final = batch("final", 100)
    broker.publish(final)
    private.wait_for_ids([m.message_id for m in final])
    durable.wait_for_ids([m.message_id for m in final])
    assert [i for i in private.ids if i.startswith("final-")] == [m.message_id for m in final]
