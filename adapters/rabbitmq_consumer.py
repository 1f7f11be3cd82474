"""The RabbitMQ consumer: one subscription's queue, read on an I/O thread and handled on a worker thread.

Each subscription has an I/O thread owning a ``BlockingConnection`` and a worker thread running the handler.
Keeping the handler off the I/O thread keeps heartbeats flowing while a handler is slow; acks and nacks go back to
the I/O thread through ``add_callback_threadsafe``, the only thread-safe ``BlockingConnection`` method.
"""

from __future__ import annotations

import collections
import functools
import logging
import queue as queue_module
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pika
import pika.exceptions

from adapters.messaging import DELIVERY_LIMIT, Message, MessageHandler
from adapters.rabbitmq_connection import backoff
from adapters.rabbitmq_topology import declare_subscription_queue

__all__ = ["RabbitMQSubscription"]

log = logging.getLogger(__name__)

# Upper bound on how long close() waits for a consumer's I/O thread to notice the stop flag.
_POLL_INTERVAL_S = 0.5
_MAX_RETRY_DELAY_S = 1.0
# Failure counts for private queues are kept per message id; bound them so a long-lived consumer cannot leak.
_MAX_TRACKED_FAILURES = 10_000

_Outcome = Literal["ack", "requeue", "reject"]


def _headers_from_amqp(headers: Mapping[str, Any] | None) -> dict[str, str | int]:
    """Keep the header values the port can express; AMQP tables may also hold lists (x-death), floats, etc."""
    result: dict[str, str | int] = {}
    for key, value in (headers or {}).items():
        if isinstance(value, bool | str):
            result[key] = value
        elif isinstance(value, int):
            # pika decodes 64-bit integers as its own int subclass (pika.compat.long, repr "5L").
            result[key] = int(value)
        elif isinstance(value, bytes):
            # pika hands long strings that are not valid UTF-8 over as bytes.
            result[key] = value.decode("utf-8", errors="replace")
    return result


class _ConsumerCancelled(Exception):
    """The broker cancelled our consumer, e.g. because the queue was deleted."""


@dataclass(frozen=True, eq=False)
class _Delivery:
    connection: Any
    channel: Any
    delivery_tag: int
    message: Message
    delivery_count: int  # x-delivery-count: how often a quorum queue delivered it before


class RabbitMQSubscription:
    """A consumer of one queue; see ``MessageBroker.subscribe``."""

    def __init__(
        self,
        *,
        parameters: Any,
        exchange: str,
        dead_letter_exchange: str,
        binding_keys: Sequence[str],
        handler: MessageHandler,
        queue: str | None,
        prefetch: int,
        on_close: Callable[[RabbitMQSubscription], None],
    ) -> None:
        self._parameters = parameters
        self._exchange = exchange
        self._dead_letter_exchange = dead_letter_exchange
        self._binding_keys = tuple(binding_keys)
        self._handler = handler
        self._queue = queue
        self._prefetch = prefetch
        self._on_close = on_close
        self._stop = threading.Event()
        self._consuming = threading.Event()
        self._first_attempt_done = threading.Event()
        self._connection_lock = threading.Lock()
        self._connection: Any = None
        self._queue_name: str | None = queue
        self._deliveries: queue_module.SimpleQueue[_Delivery | None] = queue_module.SimpleQueue()
        self._failures: collections.OrderedDict[str, int] = collections.OrderedDict()
        label = queue or "private"
        self._io_thread = threading.Thread(target=self._run_io, name=f"amqp-consumer-io-{label}", daemon=True)
        self._worker = threading.Thread(target=self._run_worker, name=f"amqp-consumer-{label}", daemon=True)

    @property
    def queue_name(self) -> str | None:
        """The queue consumed from; for a private queue the server-generated name of the current connection."""
        return self._queue_name

    def start(self, timeout: float) -> None:
        """Start consuming and wait (up to ``timeout``) for the first connection attempt to finish.

        On success the queue and its bindings exist when this returns, so nothing published afterwards is missed.
        On failure the subscription keeps retrying in the background.
        """
        self._worker.start()
        self._io_thread.start()
        if not self._first_attempt_done.wait(timeout) or not self._consuming.is_set():
            log.warning("consumer for %s is not consuming yet; retrying in the background", self._label)

    def wait_until_consuming(self, timeout: float) -> bool:
        return self._consuming.wait(timeout)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._deliveries.put(None)
        self._wake_io_thread()
        current = threading.current_thread()
        for thread in (self._io_thread, self._worker):
            if thread is not current and thread.is_alive():
                thread.join(timeout=30)
                if thread.is_alive():
                    log.warning("%s did not stop within 30 s", thread.name)
        self._on_close(self)

    @property
    def _label(self) -> str:
        return self._queue or f"private queue ({', '.join(self._binding_keys)})"

    def _wake_io_thread(self) -> None:
        with self._connection_lock:
            connection = self._connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(lambda: None)
            except Exception:
                # Already closed or closing: the I/O thread is on its way out of process_data_events anyway.
                log.debug("could not wake the consumer I/O thread", exc_info=True)

    # ---- I/O thread ----

    def _run_io(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception as exc:
                if self._consuming.is_set():
                    attempt = 0
                self._consuming.clear()
                self._first_attempt_done.set()
                if self._stop.is_set():
                    break
                delay = backoff(attempt)
                attempt += 1
                if isinstance(exc, pika.exceptions.AMQPChannelError):
                    # Usually a topology mismatch (PRECONDITION_FAILED) that needs an operator; keep retrying so
                    # that the consumer recovers by itself once it is fixed.
                    log.error("consumer for %s: channel error %r; retrying in %.2f s", self._label, exc, delay)
                else:
                    log.warning("consumer for %s: %r; reconnecting in %.2f s", self._label, exc, delay)
                self._stop.wait(delay)
        self._consuming.clear()
        self._first_attempt_done.set()

    def _consume(self) -> None:
        connection = pika.BlockingConnection(self._parameters)
        with self._connection_lock:
            self._connection = connection
        try:
            if self._stop.is_set():
                return
            channel = connection.channel()
            queue_name = declare_subscription_queue(
                channel, self._exchange, self._dead_letter_exchange, self._queue, self._binding_keys
            )
            channel.basic_qos(prefetch_count=self._prefetch)
            cancelled: list[Any] = []
            channel.add_on_cancel_callback(cancelled.append)
            channel.basic_consume(queue_name, functools.partial(self._on_message, connection), auto_ack=False)
            self._queue_name = queue_name
            self._consuming.set()
            self._first_attempt_done.set()
            log.info("consuming from %s", queue_name)
            while not self._stop.is_set():
                connection.process_data_events(time_limit=_POLL_INTERVAL_S)
                if cancelled:
                    raise _ConsumerCancelled(f"broker cancelled the consumer of {queue_name}")
        finally:
            with self._connection_lock:
                self._connection = None
            if connection.is_open:
                try:
                    # Unacknowledged deliveries go back to the queue when the channel closes.
                    connection.close()
                except Exception:
                    log.debug("closing the consumer connection failed", exc_info=True)

    def _on_message(self, connection: Any, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        headers = properties.headers or {}
        delivery_count = headers.get("x-delivery-count", 0)
        message = Message(
            routing_key=method.routing_key,
            body=body,
            message_id=properties.message_id or "",
            content_type=properties.content_type or "application/octet-stream",
            headers=_headers_from_amqp(headers),
        )
        self._deliveries.put(
            _Delivery(
                connection=connection,
                channel=channel,
                delivery_tag=method.delivery_tag,
                message=message,
                delivery_count=delivery_count if isinstance(delivery_count, int) else 0,
            )
        )

    def _settle(self, delivery: _Delivery, outcome: _Outcome) -> None:
        channel = delivery.channel
        if not channel.is_open:
            return  # delivery tags die with their channel; the broker redelivers the message
        if outcome == "ack":
            channel.basic_ack(delivery.delivery_tag)
        else:
            channel.basic_nack(delivery.delivery_tag, requeue=outcome == "requeue")

    # ---- worker thread ----

    def _run_worker(self) -> None:
        while True:
            delivery = self._deliveries.get()
            if delivery is None or self._stop.is_set():
                return
            if not delivery.channel.is_open:
                continue  # from a connection that is gone: it will come again on the new one
            outcome = self._handle(delivery)
            try:
                delivery.connection.add_callback_threadsafe(functools.partial(self._settle, delivery, outcome))
            except Exception:
                log.debug("connection closed before settling %s", delivery.message.message_id, exc_info=True)

    def _handle(self, delivery: _Delivery) -> _Outcome:
        message = delivery.message
        key = message.message_id or f"{message.routing_key}:{hash(message.body)}"
        try:
            self._handler(message)
        except Exception:
            failures = max(self._failures.pop(key, 0), delivery.delivery_count) + 1
            if self._queue is None and failures >= DELIVERY_LIMIT:
                # Private queues are classic queues without a delivery limit; stop the redelivery loop ourselves.
                log.exception(
                    "dead letter: handler failed %d times on message %s (%s); dropping it",
                    failures,
                    message.message_id,
                    message.routing_key,
                )
                return "reject"
            self._failures[key] = failures
            while len(self._failures) > _MAX_TRACKED_FAILURES:
                self._failures.popitem(last=False)
            log.warning(
                "handler on %s failed on message %s (attempt %d); requeueing",
                self._label,
                message.message_id,
                failures,
                exc_info=True,
            )
            # Redelivery is immediate; a short growing pause gives transient failures a chance to clear before
            # the delivery limit dead-letters the message.  Handling is sequential, so this also holds back the
            # messages behind it, which is what ordering wants.
            self._stop.wait(min(0.05 * 2 ** (failures - 1), _MAX_RETRY_DELAY_S))
            return "requeue"
        self._failures.pop(key, None)
        return "ack"
