"""RabbitMQ ``MessageBroker`` on pika 1.4.

Publishing: one publisher thread owns a ``SelectConnection`` and its I/O loop.  Callers hand a batch over with
``ioloop.add_callback_threadsafe`` and wait on a ``concurrent.futures.Future``; the I/O thread publishes the whole
batch and resolves the future when the broker has confirmed every message.  Confirms are thus pipelined: pika's
``BlockingChannel.confirm_delivery`` would instead wait one broker round trip (plus a Raft commit for quorum
queues) after *each* message.  The connection is (re)opened lazily, by the next publish, after a backoff.

Consuming: each subscription has an I/O thread owning a ``BlockingConnection`` and a worker thread running the
handler.  Keeping the handler off the I/O thread keeps heartbeats flowing while a handler is slow; acks and nacks
go back to the I/O thread through ``add_callback_threadsafe``, the only thread-safe ``BlockingConnection`` method.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import itertools
import logging
import queue as queue_module
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, Literal, ParamSpec
from urllib.parse import parse_qs, urlsplit

import pika
import pika.exceptions
import pika.spec
from pika.adapters.select_connection import IOLoop

from adapters.messaging import (
    DELIVERY_LIMIT,
    EVENTS_EXCHANGE,
    Message,
    MessageHandler,
    PublishFailed,
)

__all__ = ["RabbitMQBroker", "RabbitMQSubscription", "dead_letter_queue_name", "named_queue_arguments"]

log = logging.getLogger(__name__)

_HEARTBEAT_S = 30
_BLOCKED_CONNECTION_TIMEOUT_S = 60
_BACKOFF_BASE_S = 0.2
_BACKOFF_CAP_S = 5.0
# Upper bound on how long close() waits for a consumer's I/O thread to notice the stop flag.
_POLL_INTERVAL_S = 0.5
_MAX_RETRY_DELAY_S = 1.0
# Failure counts for private queues are kept per message id; bound them so a long-lived consumer cannot leak.
_MAX_TRACKED_FAILURES = 10_000

_P = ParamSpec("_P")
_Outcome = Literal["ack", "requeue", "reject"]


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter, so that many clients do not reconnect in lockstep after a broker restart."""
    ceiling = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


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


def _declare_exchanges(channel: Any, exchange: str, dead_letter_exchange: str) -> None:
    """Idempotent on a ``BlockingChannel``."""
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(dead_letter_exchange, exchange_type="direct", durable=True)


def _connection_parameters(url: str, connection_name: str) -> Any:
    parameters = pika.URLParameters(url)
    query = parse_qs(urlsplit(url).query)
    # The URL wins where it says something; otherwise use values that suit this platform.
    if "heartbeat" not in query:
        parameters.heartbeat = _HEARTBEAT_S
    if "blocked_connection_timeout" not in query:
        parameters.blocked_connection_timeout = _BLOCKED_CONNECTION_TIMEOUT_S
    client_properties = dict(parameters.client_properties or {})
    # Shows up in the management UI and `rabbitmqctl list_connections client_properties`.
    client_properties["connection_name"] = connection_name
    parameters.client_properties = client_properties
    return parameters


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


# --------------------------------------------------------------------------------------------------------------
# Publishing


@dataclass(eq=False)
class _Batch:
    messages: list[Message]
    future: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)
    unconfirmed: int = 0

    def fail(self, reason: str) -> None:
        # Only the I/O thread resolves futures, so checking then setting does not race.
        if not self.future.done():
            self.future.set_exception(PublishFailed(reason))

    def confirm_one(self) -> None:
        self.unconfirmed -= 1
        if self.unconfirmed == 0 and not self.future.done():
            self.future.set_result(None)


def _io_callback(
    method: Callable[Concatenate[_Publisher, _P], None],
) -> Callable[Concatenate[_Publisher, _P], None]:
    """Wrap a callback run by the publisher's I/O loop.

    An exception escaping into the loop would end the publisher thread and leave every later publish waiting for
    its timeout; instead drop the connection, which fails the batches in flight and reconnects on demand.
    """

    @functools.wraps(method)
    def wrapper(self: _Publisher, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as exc:
            log.exception("publisher: unexpected error in %s; resetting the connection", method.__name__)
            self._abort(f"internal error: {exc!r}")

    return wrapper


class _Publisher:
    """Owns the publisher thread. Attributes below ``_ioloop`` are only touched on that thread."""

    def __init__(self, parameters: Any, exchange: str, dead_letter_exchange: str, thread_name: str) -> None:
        self._parameters = parameters
        self._exchange = exchange
        self._dead_letter_exchange = dead_letter_exchange
        self._thread_name = thread_name
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._ioloop: Any = None
        self._connection: Any = None
        self._channel: Any = None
        self._ready = False
        self._connecting = False
        self._shutting_down = False
        self._reconnect_timer: Any = None
        self._failures = 0
        self._next_attempt_at = 0.0
        self._waiting: list[_Batch] = []
        # Delivery tag -> batch. Tags grow by one per basic_publish on a channel, so insertion order is tag order.
        self._unconfirmed: dict[int, _Batch] = {}
        self._last_tag = 0

    # ---- caller threads ----

    def publish(self, messages: Sequence[Message], timeout: float) -> None:
        batch = _Batch(list(messages))
        with self._lock:
            # Scheduling under the lock orders this batch before close()'s shutdown callback, so the shutdown
            # always sees (and fails) it rather than leaving the caller waiting for the timeout.
            if self._closed:
                raise PublishFailed("broker is closed")
            ioloop = self._ensure_thread()
            ioloop.add_callback_threadsafe(functools.partial(self._on_publish_request, batch))
        try:
            batch.future.result(timeout)
        except TimeoutError as exc:
            raise PublishFailed(f"broker did not confirm {len(batch.messages)} message(s) within {timeout} s") from exc

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            ioloop, thread = self._ioloop, self._thread
            if ioloop is None or thread is None:
                return
            ioloop.add_callback_threadsafe(self._shutdown)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("publisher thread did not stop within %s s", timeout)

    def _ensure_thread(self) -> Any:
        if self._thread is None:
            self._ioloop = IOLoop()
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
            self._thread.start()
        return self._ioloop

    def _run(self) -> None:
        ioloop = self._ioloop
        try:
            while True:
                try:
                    ioloop.start()
                except Exception:
                    # Defence in depth: callbacks are wrapped, but pika itself may raise out of the loop.
                    log.exception("publisher I/O loop failed")
                    if not self._shutting_down:
                        try:
                            self._abort("I/O loop failed")
                        except Exception:
                            log.exception("publisher: could not reset the connection")
                        continue
                break
        finally:
            ioloop.close()

    # ---- I/O thread ----

    @_io_callback
    def _on_publish_request(self, batch: _Batch) -> None:
        if self._shutting_down:
            batch.fail("broker is closed")
        elif self._ready:
            self._send(batch)
        else:
            self._waiting.append(batch)
            self._connect_soon()

    def _connect_soon(self) -> None:
        if self._connecting:
            return
        self._connecting = True
        delay = self._next_attempt_at - time.monotonic()
        if delay > 0:
            self._reconnect_timer = self._ioloop.call_later(delay, self._connect)
        else:
            self._connect()

    @_io_callback
    def _connect(self) -> None:
        self._reconnect_timer = None
        if self._shutting_down:
            return
        log.debug("publisher: connecting to %s:%s", self._parameters.host, self._parameters.port)
        self._connection = pika.SelectConnection(
            parameters=self._parameters,
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_connection_open_error,
            on_close_callback=self._on_connection_closed,
            custom_ioloop=self._ioloop,
        )

    @_io_callback
    def _on_connection_open(self, connection: Any) -> None:
        if connection is not self._connection:
            return
        if self._shutting_down:
            connection.close()
            return
        connection.channel(on_open_callback=self._on_channel_open)

    @_io_callback
    def _on_connection_open_error(self, connection: Any, error: BaseException) -> None:
        if connection is not self._connection:
            return
        log.warning("publisher: cannot connect to RabbitMQ: %r", error)
        self._on_disconnected(f"cannot connect to RabbitMQ: {error!r}")

    @_io_callback
    def _on_connection_closed(self, connection: Any, reason: BaseException) -> None:
        if connection is not self._connection:
            return
        if not self._shutting_down:
            log.warning("publisher: connection closed: %r", reason)
        self._on_disconnected(f"connection closed: {reason!r}")

    @_io_callback
    def _on_channel_open(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.exchange_declare(
            exchange=self._exchange, exchange_type="topic", durable=True, callback=self._on_exchange_declared
        )

    @_io_callback
    def _on_exchange_declared(self, _frame: Any) -> None:
        if self._channel is None:
            return
        self._channel.exchange_declare(
            exchange=self._dead_letter_exchange,
            exchange_type="direct",
            durable=True,
            callback=self._on_dead_letter_exchange_declared,
        )

    @_io_callback
    def _on_dead_letter_exchange_declared(self, _frame: Any) -> None:
        if self._channel is None:
            return
        self._channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirm_selected)

    @_io_callback
    def _on_confirm_selected(self, _frame: Any) -> None:
        if self._channel is None:
            return
        self._ready = True
        self._connecting = False
        self._failures = 0
        self._last_tag = 0
        waiting, self._waiting = self._waiting, []
        for batch in waiting:
            self._send(batch)

    @_io_callback
    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if channel is not self._channel:
            return
        self._channel = None
        self._ready = False
        connection = self._connection
        if not self._shutting_down and connection is not None and connection.is_open:
            # Only a channel error is news here; a lost connection is reported by its own callback.
            log.warning("publisher: channel closed: %r", reason)
        # A channel error (say, the exchange was deleted under us) is rare; recycling the whole connection keeps
        # a single recovery path, which also re-declares the topology.
        self._abort(f"channel closed: {reason!r}")

    def _send(self, batch: _Batch) -> None:
        if not batch.messages:
            batch.future.set_result(None)
            return
        channel = self._channel
        timestamp = int(time.time())
        for message in batch.messages:
            properties = pika.BasicProperties(
                content_type=message.content_type,
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=message.message_id,
                timestamp=timestamp,
                headers=dict(message.headers) or None,
            )
            try:
                # No mandatory flag: a key that no queue is bound for is a normal case for a topic exchange.
                channel.basic_publish(
                    exchange=self._exchange, routing_key=message.routing_key, body=message.body, properties=properties
                )
            except Exception as exc:
                # pika encodes before writing, so a rejected message (e.g. a key over 255 bytes) consumed no tag.
                batch.fail(f"cannot publish message {message.message_id}: {exc!r}")
                if not channel.is_open:
                    self._abort(f"channel unusable: {exc!r}")
                return
            self._last_tag += 1
            self._unconfirmed[self._last_tag] = batch
            batch.unconfirmed += 1

    @_io_callback
    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tag: int = method.delivery_tag
        if method.multiple:
            tags = list(itertools.takewhile(lambda t: t <= tag, self._unconfirmed))
        else:
            tags = [tag] if tag in self._unconfirmed else []
        for confirmed in tags:
            batch = self._unconfirmed.pop(confirmed)
            if acked:
                batch.confirm_one()
            else:
                batch.fail("broker nacked the message (internal error in the broker)")

    def _abort(self, reason: str) -> None:
        connection = self._connection
        if connection is not None and connection.is_closing:
            return  # its close callback finishes the job
        if connection is not None and not connection.is_closed:
            try:
                connection.close()
            except Exception:
                log.debug("publisher: closing the connection failed", exc_info=True)
            else:
                return
        self._on_disconnected(reason)

    def _on_disconnected(self, reason: str) -> None:
        self._connection = None
        self._channel = None
        self._ready = False
        self._connecting = False
        self._failures += 1
        self._next_attempt_at = time.monotonic() + _backoff(self._failures - 1)
        # Unconfirmed means unknown, not lost: the caller re-publishes with the same ids, consumers dedupe.
        failed = list(dict.fromkeys([*self._unconfirmed.values(), *self._waiting]))
        self._unconfirmed.clear()
        self._waiting.clear()
        for batch in failed:
            batch.fail(reason)
        if self._shutting_down:
            self._ioloop.stop()

    @_io_callback
    def _shutdown(self) -> None:
        self._shutting_down = True
        if self._reconnect_timer is not None:
            self._ioloop.remove_timeout(self._reconnect_timer)
            self._reconnect_timer = None
        connection = self._connection
        if connection is not None and not connection.is_closed:
            if not connection.is_closing:
                connection.close()
            # The close handshake normally ends in _on_disconnected; do not hang on a broker that stopped answering.
            self._ioloop.call_later(5.0, self._ioloop.stop)
        else:
            self._on_disconnected("broker is closed")


# --------------------------------------------------------------------------------------------------------------
# Consuming


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
                delay = _backoff(attempt)
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
            queue_name = self._declare(channel)
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

    def _declare(self, channel: Any) -> str:
        _declare_exchanges(channel, self._exchange, self._dead_letter_exchange)
        if self._queue is None:
            frame = channel.queue_declare("", exclusive=True, auto_delete=True)
            name: str = frame.method.queue
        else:
            name = self._queue
            dead_letters = dead_letter_queue_name(name)
            channel.queue_declare(dead_letters, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(dead_letters, self._dead_letter_exchange, routing_key=dead_letters)
            channel.queue_declare(name, durable=True, arguments=named_queue_arguments(name, self._dead_letter_exchange))
        for binding_key in self._binding_keys:
            channel.queue_bind(name, self._exchange, routing_key=binding_key)
        return name

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


# --------------------------------------------------------------------------------------------------------------
# The broker


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
        self._publisher = _Publisher(
            _connection_parameters(url, f"{connection_name}.publisher"),
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
        connection = pika.BlockingConnection(_connection_parameters(self._url, f"{self._connection_name}.setup"))
        try:
            _declare_exchanges(connection.channel(), self._exchange, self._dead_letter_exchange)
        finally:
            connection.close()

    def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        self._publisher.publish(messages, self._publish_timeout)

    def subscribe(
        self, binding_keys: Sequence[str], handler: MessageHandler, *, queue: str | None = None
    ) -> RabbitMQSubscription:
        subscription = RabbitMQSubscription(
            parameters=_connection_parameters(self._url, f"{self._connection_name}.consumer.{queue or 'private'}"),
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
        parameters = _connection_parameters(self._url, f"{self._connection_name}.ping")
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
