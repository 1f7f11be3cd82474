"""The RabbitMQ publisher: one thread owning a ``SelectConnection``, publishing callers' batches with confirms
(and, for ``publish_unconfirmed``, messages nobody waits for).

Callers hand a batch over with ``ioloop.add_callback_threadsafe`` and wait on a ``concurrent.futures.Future``; the
I/O thread publishes the whole batch and resolves the future when the broker has confirmed every message.  Confirms
are thus pipelined: pika's ``BlockingChannel.confirm_delivery`` would instead wait one broker round trip (plus a
Raft commit for quorum queues) after *each* message.  The connection is (re)opened lazily, by the next publish,
after a backoff.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec

import pika
import pika.spec
from pika.adapters.select_connection import IOLoop

from adapters.messaging import Message, PublishFailed
from adapters.rabbitmq_confirms import PendingConfirms, PublishBatch
from adapters.rabbitmq_connection import backoff
from adapters.rabbitmq_topology import ExchangeDeclaration, exchange_declarations

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

_P = ParamSpec("_P")

MAX_UNCONFIRMED_IN_FLIGHT = 10_000
"""Unconfirmed messages (``publish_unconfirmed``) the broker may owe a confirm for before more are dropped:
bounds the memory a slow or blocked broker costs a publisher of positions."""


def _properties(message: Message, timestamp: int, *, persistent: bool) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=message.content_type,
        delivery_mode=pika.DeliveryMode.Persistent if persistent else pika.DeliveryMode.Transient,
        message_id=message.message_id,
        timestamp=timestamp,
        headers=dict(message.headers) or None,
    )


def _io_callback(
    method: Callable[Concatenate[Publisher, _P], None],
) -> Callable[Concatenate[Publisher, _P], None]:
    """Wrap a callback run by the publisher's I/O loop.

    An exception escaping into the loop would end the publisher thread and leave every later publish waiting for
    its timeout; instead drop the connection, which fails the batches in flight and reconnects on demand.
    """

    @functools.wraps(method)
    def wrapper(self: Publisher, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as exc:
            log.exception("publisher: unexpected error in %s; resetting the connection", method.__name__)
            self._abort(f"internal error: {exc!r}")

    return wrapper


class Publisher:
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
        self._waiting: list[PublishBatch] = []
        self._confirms = PendingConfirms()

    # ---- caller threads ----

    def publish(self, messages: Sequence[Message], timeout: float) -> None:
        batch = PublishBatch(list(messages))
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

    def publish_unconfirmed(self, messages: Sequence[Message]) -> None:
        """Hand the messages to the I/O thread and return; they go out transient, with no confirm awaited, or
        are dropped (not connected now, or too many unconfirmed already). The caller never waits."""
        with self._lock:
            if self._closed:
                return
            ioloop = self._ensure_thread()
            ioloop.add_callback_threadsafe(functools.partial(self._on_unconfirmed_request, list(messages)))

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
    def _on_publish_request(self, batch: PublishBatch) -> None:
        if self._shutting_down:
            batch.fail("broker is closed")
        elif self._ready:
            self._send(batch)
        else:
            self._waiting.append(batch)
            self._connect_soon()

    @_io_callback
    def _on_unconfirmed_request(self, messages: list[Message]) -> None:
        if self._shutting_down:
            return
        if not self._ready:
            self._connect_soon()  # these are lost; the next ones go out once connected
            log.debug("publisher: not connected, %d unconfirmed message(s) dropped", len(messages))
            return
        room = MAX_UNCONFIRMED_IN_FLIGHT - self._confirms.untracked_in_flight
        if room < len(messages):
            # The broker is behind (or has blocked us): what is not sent now is replaced by what comes next.
            log.debug("publisher: %d unconfirmed message(s) dropped, the broker is behind", len(messages) - room)
        channel = self._channel
        timestamp = int(time.time())
        for message in messages[:max(0, room)]:
            try:
                channel.basic_publish(exchange=self._exchange, routing_key=message.routing_key, body=message.body,
                                      properties=_properties(message, timestamp, persistent=False))
            except Exception as exc:
                log.warning("publisher: cannot publish unconfirmed message %s: %r", message.message_id, exc)
                if not channel.is_open:
                    self._abort(f"channel unusable: {exc!r}")
                return
            self._confirms.published_untracked()

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
        self._declare_exchanges(exchange_declarations(self._exchange, self._dead_letter_exchange), None)

    @_io_callback
    def _declare_exchanges(self, remaining: Sequence[ExchangeDeclaration], _frame: Any) -> None:
        """Declare the exchanges one after the other, each on the previous one's reply, then select confirms."""
        if self._channel is None:
            return
        if not remaining:
            self._channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirm_selected)
            return
        declaration, *rest = remaining
        self._channel.exchange_declare(
            exchange=declaration.name,
            exchange_type=declaration.exchange_type,
            durable=True,
            callback=functools.partial(self._declare_exchanges, rest),
        )

    @_io_callback
    def _on_confirm_selected(self, _frame: Any) -> None:
        if self._channel is None:
            return
        self._ready = True
        self._connecting = False
        self._failures = 0
        self._confirms.new_channel()
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

    def _send(self, batch: PublishBatch) -> None:
        if not batch.messages:
            batch.future.set_result(None)
            return
        channel = self._channel
        timestamp = int(time.time())
        for message in batch.messages:
            try:
                # No mandatory flag: a key that no queue is bound for is a normal case for a topic exchange.
                channel.basic_publish(
                    exchange=self._exchange, routing_key=message.routing_key, body=message.body,
                    properties=_properties(message, timestamp, persistent=True)
                )
            except Exception as exc:
                # pika encodes before writing, so a rejected message (e.g. a key over 255 bytes) consumed no tag.
                batch.fail(f"cannot publish message {message.message_id}: {exc!r}")
                if not channel.is_open:
                    self._abort(f"channel unusable: {exc!r}")
                return
            self._confirms.published(batch)

    @_io_callback
    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        self._confirms.settle(
            method.delivery_tag, multiple=bool(method.multiple), acked=isinstance(method, pika.spec.Basic.Ack)
        )

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
        self._next_attempt_at = time.monotonic() + backoff(self._failures - 1)
        # Unconfirmed means unknown, not lost: the caller re-publishes with the same ids, consumers dedupe.
        failed = list(dict.fromkeys([*self._confirms.abandon(), *self._waiting]))
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
