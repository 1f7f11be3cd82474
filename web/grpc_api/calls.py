"""What every call of the gRPC face shares: admission, the status code of whatever went wrong, and metrics.

A call is admitted in this order: its request must decode (a client's undecodable bytes are INVALID_ARGUMENT,
where the library would answer INTERNAL), its bearer token must be valid (UNAUTHENTICATED), its role allowed
(PERMISSION_DENIED), and the database reachable at the last check (else UNAVAILABLE at once, instead of a call
that waits out connection timeouts). Whatever an implementation raises is turned into a status code here: the
application services refuse with the same exceptions the HTTP API turns into problem+json, so both faces give
the same answer for the same mistake. A call never ends UNKNOWN, and bad input never INTERNAL.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import grpc
import grpc.aio
import psycopg
import psycopg_pool
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from prometheus_client import Counter, Histogram

from commands.errors import AlreadyExists, ConcurrencyConflict, Forbidden, NotFound
from domain.base import message_context
from domain.errors import InvalidTransition, InvalidValue
from domain.identity import Actor, Role
from queries.errors import NotFound as NothingToRead
from queries.pagination import InvalidQuery
from web.auth import TokenRejected, verify_token
from web.command_api.idempotency import IDEMPOTENCY_KEY_HEADER
from web.problems import IdempotencyKeyReused, IdempotentRequestInProgress

log = logging.getLogger(__name__)

Code = grpc.StatusCode
Context = grpc.aio.ServicerContext[Any, Any]
Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)
T = TypeVar("T")

REQUEST_ID_KEY: Final = "x-request-id"
AUTHORIZATION_KEY: Final = "authorization"

# What the HTTP API's query parameters are called here (queries name them as the HTTP API does).
_PARAMETER_FIELDS: Final = {"cursor": "page_token", "q": "query"}

DATABASE_UNREACHABLE: Final = (psycopg.OperationalError, psycopg_pool.PoolTimeout, StoreOperationalError,
                               StoreInterfaceError)
"""What the drivers and the event store raise when PostgreSQL cannot be reached (or went away mid-call)."""

# Named after go-grpc-prometheus, so the dashboards and alerts written for it work with a prefix.
STARTED = Counter("logistics_grpc_server_started_total", "gRPC calls started, by method",
                  ["grpc_service", "grpc_method", "grpc_type"])
HANDLED = Counter("logistics_grpc_server_handled_total", "gRPC calls finished, by method and status code",
                  ["grpc_service", "grpc_method", "grpc_type", "grpc_code"])
HANDLING_SECONDS = Histogram("logistics_grpc_server_handling_seconds",
                             "How long gRPC calls took, by method (a stream: how long it was open)",
                             ["grpc_service", "grpc_method", "grpc_type"],
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


class Refusal(Exception):
    """A call refused with a status code and message of the face's own (authentication, roles, request shape)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_argument(field: str, message: str) -> Refusal:
    return Refusal(Code.INVALID_ARGUMENT, f"{field}: {message}")


def status_of(error: Exception) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for what an implementation raised."""
    if isinstance(error, Refusal):
        return error.code, error.message
    if isinstance(error, InvalidValue):
        field = "idempotency_key" if error.field == IDEMPOTENCY_KEY_HEADER else error.field
        return Code.INVALID_ARGUMENT, f"{field}: {error.message}"
    if isinstance(error, InvalidQuery):
        return Code.INVALID_ARGUMENT, f"{_PARAMETER_FIELDS.get(error.parameter, error.parameter)}: {error.message}"
    if isinstance(error, IdempotencyKeyReused):
        return Code.INVALID_ARGUMENT, f"idempotency_key: {error}".replace(f"{IDEMPOTENCY_KEY_HEADER} ", "")
    if isinstance(error, (NotFound, NothingToRead)):
        return Code.NOT_FOUND, str(error)
    if isinstance(error, AlreadyExists):
        return Code.ALREADY_EXISTS, f"{error} (id {error.entity_id})"
    if isinstance(error, InvalidTransition):
        return Code.FAILED_PRECONDITION, str(error)
    if isinstance(error, ConcurrencyConflict):
        return Code.ABORTED, f"{error}; retry the call"
    if isinstance(error, IdempotentRequestInProgress):
        return Code.ABORTED, str(error).replace(IDEMPOTENCY_KEY_HEADER, "idempotency_key")
    if isinstance(error, Forbidden):
        return Code.PERMISSION_DENIED, str(error)
    if isinstance(error, DATABASE_UNREACHABLE):
        return Code.UNAVAILABLE, "the database is unreachable; retry the call"
    return Code.INTERNAL, "the server failed; the call may be retried"


# --------------------------------------------------------------------------------------------------------------
# Who is calling


def bearer_token(metadata: Sequence[tuple[str, str | bytes]]) -> str:
    """The token of the one `authorization: Bearer <token>` entry; the scheme's name in any case, no other scheme."""
    values = [value for key, value in metadata if key == AUTHORIZATION_KEY]
    if not values:
        raise Refusal(Code.UNAUTHENTICATED, "a bearer token is needed: send the metadata `authorization: Bearer "
                                            "<token>`")
    if len(values) > 1:
        raise Refusal(Code.UNAUTHENTICATED, "send one authorization entry, not several")
    value = values[0]
    scheme, _, token = value.strip().partition(" ") if isinstance(value, str) else ("", "", "")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refusal(Code.UNAUTHENTICATED, "the authorization must be `Bearer <token>`; no other scheme is accepted")
    return token.strip()


def authenticate(metadata: Sequence[tuple[str, str | bytes]], secret: str) -> Actor:
    try:
        return verify_token(bearer_token(metadata), secret).actor
    except TokenRejected as rejected:
        raise Refusal(Code.UNAUTHENTICATED, str(rejected.detail)) from None


def request_id(metadata: Sequence[tuple[str, str | bytes]]) -> str:
    """The caller's `x-request-id` when it sent a sane one, else a fresh one (the events' causation)."""
    for key, value in metadata:
        if key == REQUEST_ID_KEY and isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable():
            return value
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Call:
    """One admitted call: who makes it, its request id, and its context (a stream writes through it)."""

    actor: Actor
    request_id: str
    context: Context

    async def run(self, work: Callable[[], T], *, correlation_id: uuid.UUID | None = None) -> T:
        """Run blocking work (an application service, a query) on a thread, its events correlated and caused."""

        def in_context() -> T:
            with self.correlated(correlation_id):
                return work()

        return await asyncio.to_thread(in_context)

    @contextmanager
    def correlated(self, correlation_id: uuid.UUID | None = None) -> Iterator[None]:
        """Events recorded inside are correlated with the order they concern (else the call) and caused by the call."""
        causation = f"request:{self.request_id}"
        with message_context(str(correlation_id) if correlation_id else causation, causation):
            yield

    async def write(self, message: Message) -> None:
        await self.context.write(message)


# --------------------------------------------------------------------------------------------------------------
# Methods and their handlers


@dataclass(frozen=True)
class Unary(Generic[Req, Resp]):
    roles: frozenset[Role]
    implementation: Callable[[Req, Call], Awaitable[Resp]]


@dataclass(frozen=True)
class ServerStream(Generic[Req]):
    roles: frozenset[Role]
    implementation: Callable[[Req, Call], Awaitable[None]]
    """Writes its messages with `call.write`; returning ends the stream with OK."""


Method = Unary[Any, Any] | ServerStream[Any]


def roles(*allowed: Role) -> frozenset[Role]:
    return frozenset(allowed)


@dataclass(frozen=True)
class Admission:
    """What every call is checked against before it runs."""

    secret: str
    database_reachable: Callable[[], bool]

    def admit(self, request: object, context: Context, allowed: frozenset[Role]) -> Call:
        metadata = tuple(context.invocation_metadata() or ())
        actor = authenticate(metadata, self.secret)
        if actor.role not in allowed:
            names = " or ".join(sorted(role.value for role in allowed))
            raise Refusal(Code.PERMISSION_DENIED, f"this needs the {names} role")
        if isinstance(request, Undecodable):
            raise Refusal(Code.INVALID_ARGUMENT, f"request: not a valid {request.type_name} ({request.reason})")
        if not self.database_reachable():
            raise Refusal(Code.UNAVAILABLE, "the database is unreachable; retry the call")
        return Call(actor=actor, request_id=request_id(metadata), context=context)


@dataclass(frozen=True)
class Undecodable:
    """Bytes a client sent that are not the method's request message; refused when the call is admitted."""

    type_name: str
    reason: str


def _tolerant_deserializer(message_class: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    def deserialize(data: bytes) -> Message | Undecodable:
        try:
            return message_class.FromString(data)
        except DecodeError as error:
            return Undecodable(message_class.DESCRIPTOR.full_name, str(error).rsplit(": ", 1)[-1])

    return deserialize


@contextmanager
def _observed(service: str, method: str, kind: str, context: Context) -> Iterator[None]:
    STARTED.labels(service, method, kind).inc()
    started = time.perf_counter()
    cancelled = False
    try:
        yield
    except asyncio.CancelledError:
        cancelled = True  # the client went away (or its deadline passed) while the call ran
        raise
    finally:
        # An aborted call has its code on the context; one that returned has none: OK.
        set_code: object = context.code()
        code = "CANCELLED" if cancelled else set_code.name if isinstance(set_code, grpc.StatusCode) else "OK"
        HANDLED.labels(service, method, kind, code).inc()
        HANDLING_SECONDS.labels(service, method, kind).observe(time.perf_counter() - started)


async def _fail(context: Context, error: Exception, service: str, method: str) -> None:
    code, message = status_of(error)
    if code is Code.INTERNAL:
        log.error("gRPC %s/%s failed", service, method, exc_info=error)
    elif code is Code.UNAVAILABLE:
        log.warning("gRPC %s/%s: %s (%s: %s)", service, method, message, type(error).__name__, error)
    await context.abort(code, message)


def _unary_behavior(service: str, name: str, method: Unary[Any, Any], admission: Admission) \
        -> Callable[[Any, Context], Awaitable[Message]]:
    async def behavior(request: Any, context: Context) -> Message:
        with _observed(service, name, "unary", context):
            try:
                call = admission.admit(request, context, method.roles)
                response: Message = await method.implementation(request, call)
                return response
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                await _fail(context, error, service, name)
                raise  # not reached: abort raises

    return behavior


def _stream_behavior(service: str, name: str, method: ServerStream[Any], admission: Admission) \
        -> Callable[[Any, Context], Awaitable[None]]:
    async def behavior(request: Any, context: Context) -> None:
        with _observed(service, name, "server_stream", context):
            try:
                call = admission.admit(request, context, method.roles)
                await method.implementation(request, call)
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                await _fail(context, error, service, name)

    return behavior


def service_handler(service: ServiceDescriptor, methods: Mapping[str, Method],
                    admission: Admission) -> grpc.GenericRpcHandler:
    """The handler for every method the service declares; a method left without an implementation is an error."""
    declared = {method.name for method in service.methods}
    if declared != set(methods):
        raise ValueError(f"{service.full_name}: implement exactly {sorted(declared)}, not {sorted(methods)}")
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for descriptor in service.methods:
        method = methods[descriptor.name]
        request_class = message_factory.GetMessageClass(descriptor.input_type)
        deserialize = _tolerant_deserializer(request_class)
        if descriptor.server_streaming:
            if not isinstance(method, ServerStream) or descriptor.client_streaming:
                raise ValueError(f"{service.full_name}/{descriptor.name} is a server stream")
            handlers[descriptor.name] = grpc.unary_stream_rpc_method_handler(
                _stream_behavior(service.full_name, descriptor.name, method, admission),
                request_deserializer=deserialize, response_serializer=_serialize)
        else:
            if not isinstance(method, Unary) or descriptor.client_streaming:
                raise ValueError(f"{service.full_name}/{descriptor.name} is unary")
            handlers[descriptor.name] = grpc.unary_unary_rpc_method_handler(
                _unary_behavior(service.full_name, descriptor.name, method, admission),
                request_deserializer=deserialize, response_serializer=_serialize)
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
