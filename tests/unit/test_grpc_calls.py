"""The gRPC face's admission and error mapping, without a server: tokens, status codes, request fields."""

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from uuid import uuid4

import grpc
import psycopg
import psycopg_pool
import pytest
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError

from adapters.tokens import TokenIssuer
from commands.errors import AlreadyExists, ConcurrencyConflict, Forbidden, NotFound
from domain.errors import InvalidTransition, InvalidValue, ProductDiscontinued
from domain.identity import Actor, Role
from domain.order import OrderCannotBeCancelled
from queries.pagination import InvalidCursor, InvalidQuery
from web.grpc_api.calls import Refusal, authenticate, bearer_token, request_id, status_of
from web.grpc_api.generated import orders_pb2
from web.grpc_api.messages import entity_id, free_text, page_size, status_filter
from web.problems import IdempotencyKeyReused, IdempotentRequestInProgress

SECRET = "unit-secret-that-is-long-enough-for-hs256-signing"
Code = grpc.StatusCode


def refusal_of(action: Callable[[], object]) -> Refusal:
    with pytest.raises(Refusal) as raised:
        action()
    return raised.value


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_recognised_in_any_case(scheme: str) -> None:
    token = TokenIssuer(SECRET).issue("customer", "alice")
    assert bearer_token([("authorization", f"{scheme} {token}")]) == token
    assert authenticate([("authorization", f"{scheme} {token}")], SECRET) == Actor(Role.CUSTOMER, "alice")


@pytest.mark.parametrize("metadata", [
    [],
    [("x-other", "Bearer abc")],
    [("authorization", "Basic YWxpY2U6c2VjcmV0")],
    [("authorization", "Token abc")],
    [("authorization", "Bearer")],
    [("authorization", "Bearer   ")],
    [("authorization", "abc.def.ghi")],
    [("authorization", "Bearer a"), ("authorization", "Bearer b")],
])
def test_no_other_scheme_and_no_missing_token_get_through(metadata: list[tuple[str, str]]) -> None:
    assert refusal_of(lambda: bearer_token(metadata)).code is Code.UNAUTHENTICATED


def test_forged_expired_and_roleless_tokens_are_unauthenticated() -> None:
    forged = TokenIssuer("another-secret-that-is-long-enough-for-hs256").issue("admin", "ops")
    expired = TokenIssuer(SECRET).issue("admin", "ops", lifetime=timedelta(seconds=-5))
    for token, why in ((forged, "another deployment"), (expired, "expired"), ("not-a-jwt", "not a token")):
        refusal = refusal_of(partial(authenticate, [("authorization", f"Bearer {token}")], SECRET))
        assert refusal.code is Code.UNAUTHENTICATED
        assert why in refusal.message


def test_a_sane_request_id_is_kept_and_anything_else_replaced() -> None:
    assert request_id([("x-request-id", "req-42")]) == "req-42"
    for sent in ("", "bad\nid", "x" * 129):
        assert request_id([("x-request-id", sent)]) != sent
    assert request_id([]) != request_id([])


@pytest.mark.parametrize(("error", "code", "message"), [
    (InvalidValue("items[0].quantity", "must be a whole number"), Code.INVALID_ARGUMENT, "items[0].quantity: "),
    (InvalidValue("Idempotency-Key", "must be printable"), Code.INVALID_ARGUMENT, "idempotency_key: "),
    (InvalidCursor(), Code.INVALID_ARGUMENT, "page_token: "),
    (InvalidQuery("q", "must not contain a NUL character"), Code.INVALID_ARGUMENT, "query: "),
    (IdempotencyKeyReused("Idempotency-Key 'k' was first used with a different request"), Code.INVALID_ARGUMENT,
     "idempotency_key: 'k' was first used"),
    (NotFound("order", uuid4()), Code.NOT_FOUND, "order "),
    (AlreadyExists("product", "TEA-1", uuid4()), Code.ALREADY_EXISTS, "product TEA-1 already exists"),
    (OrderCannotBeCancelled("an order that is IN_TRANSIT can no longer be cancelled"), Code.FAILED_PRECONDITION,
     "an order that is IN_TRANSIT"),
    (ProductDiscontinued("product TEA-1 is discontinued"), Code.FAILED_PRECONDITION, "product TEA-1"),
    (InvalidTransition("an order that is PENDING cannot be received"), Code.FAILED_PRECONDITION, "an order"),
    (ConcurrencyConflict("Orders.cancel_order: gave up after 8 conflicting writes"), Code.ABORTED, "Orders."),
    (IdempotentRequestInProgress("the first request with Idempotency-Key 'k' is running"), Code.ABORTED,
     "the first request with idempotency_key"),
    (Forbidden("not yours"), Code.PERMISSION_DENIED, "not yours"),
    (Refusal(Code.UNAUTHENTICATED, "no token"), Code.UNAUTHENTICATED, "no token"),
    (psycopg.OperationalError("connection refused"), Code.UNAVAILABLE, "the database is unreachable"),
    (psycopg_pool.PoolTimeout("couldn't get a connection after 10 sec"), Code.UNAVAILABLE, "the database"),
    (StoreOperationalError("server closed the connection"), Code.UNAVAILABLE, "the database"),
    (StoreInterfaceError("connection already closed"), Code.UNAVAILABLE, "the database"),
    (RuntimeError("a bug"), Code.INTERNAL, "the server failed"),
])
def test_each_failure_has_its_status_code(error: Exception, code: grpc.StatusCode, message: str) -> None:
    assert status_of(error)[0] is code
    assert status_of(error)[1].startswith(message), status_of(error)[1]


def test_a_failure_of_ours_never_shows_its_internals() -> None:
    assert "a bug" not in status_of(RuntimeError("a bug"))[1]
    assert "connection refused" not in status_of(psycopg.OperationalError("connection refused at 10.0.0.1"))[1]


@pytest.mark.parametrize(("text", "reason"), [
    ("", "must not be empty"),
    ("123", "not an id"),
    ("not-a-uuid\x00\n", "not an id"),
    ("x" * 10_000, "not an id"),
])
def test_malformed_ids_are_invalid_arguments_naming_the_field(text: str, reason: str) -> None:
    refusal = refusal_of(lambda: entity_id(text, "order_id"))
    assert (refusal.code, refusal.message.split(": ", 1)[0]) == (Code.INVALID_ARGUMENT, "order_id")
    assert reason in refusal.message
    assert len(refusal.message) < 200, "a client's long text is cut short in the message"
    assert "\x00" not in refusal.message
    assert "\n" not in refusal.message


@pytest.mark.parametrize("text", ["\x00", "a\nb", "tab\there", "\x1b[31mred", "del\x7f", "c1\x85", "x" * 501])
def test_free_text_refuses_control_characters_and_excess(text: str) -> None:
    refusal = refusal_of(lambda: free_text(text, "reason", 500))
    assert refusal.code is Code.INVALID_ARGUMENT
    assert refusal.message.startswith("reason: ")


def test_free_text_keeps_ordinary_text_and_makes_empty_none() -> None:
    assert free_text("Changed my mind, sorry — terima kasih", "reason", 500) == "Changed my mind, sorry — terima kasih"
    assert free_text("", "reason", 500) is None


def test_page_sizes_default_clamp_and_refuse_negative() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(2**31 - 1) == 200
    assert refusal_of(lambda: page_size(-1)).message.startswith("page_size: ")


def test_status_filters_are_the_platforms_statuses() -> None:
    assert status_filter(orders_pb2.ORDER_STATUS_UNSPECIFIED) is None
    assert status_filter(orders_pb2.ORDER_STATUS_IN_TRANSIT) == "IN_TRANSIT"
    assert refusal_of(lambda: status_filter(99)).message.startswith("status: ")


def test_every_platform_status_has_its_enum_value() -> None:
    from domain.order import CancelReason, OrderStatus

    assert {f"ORDER_STATUS_{status.value}" for status in OrderStatus} == \
        set(orders_pb2.OrderStatus.keys()) - {"ORDER_STATUS_UNSPECIFIED"}
    assert {f"CANCEL_REASON_{reason.value}" for reason in CancelReason} == \
        set(orders_pb2.CancelReason.keys()) - {"CANCEL_REASON_UNSPECIFIED"}
