"""The Payment aggregate: answered once, captured once, then voided or refunded."""

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID, uuid5

import pytest

from domain.errors import InvalidTransition, PaymentAlreadyCaptured
from domain.payment import Payment, PaymentStatus
from tests.unit.scenario import Command, Event, facts, given, history, then_rejected, when

ORDER = uuid5(UUID(int=0), "order-1")
AMOUNT = Decimal("24.25")


def request_payment(order_id: UUID = ORDER) -> Payment:
    return Payment(order_id=order_id, amount=AMOUNT, token="tok_visa")


def authorize(payment: Payment) -> None:
    payment.authorize("auth-1")


def decline(payment: Payment) -> None:
    payment.decline("insufficient funds")


HISTORIES: dict[PaymentStatus, tuple[Command[Payment], ...]] = {
    PaymentStatus.REQUESTED: (),
    PaymentStatus.AUTHORIZED: (authorize,),
    PaymentStatus.DECLINED: (decline,),
    PaymentStatus.TIMED_OUT: (Payment.time_out,),
    PaymentStatus.CAPTURED: (authorize, Payment.capture),
    PaymentStatus.VOIDED: (authorize, Payment.void),
    PaymentStatus.REFUNDED: (authorize, Payment.capture, Payment.refund),
}


def payment_in(status: PaymentStatus) -> Payment:
    payment = given(*history(request_payment(), *HISTORIES[status]), kind=Payment)
    assert payment.status is status
    return payment


def states_except(*allowed: PaymentStatus) -> list[PaymentStatus]:
    return [status for status in PaymentStatus if status not in allowed]


def test_a_request_records_the_order_amount_and_token() -> None:
    events = history(request_payment())

    assert facts(events) == [("Requested", {"order_id": ORDER, "amount": AMOUNT, "token": "tok_visa"})]
    payment = given(*events, kind=Payment)
    assert payment.status is PaymentStatus.REQUESTED
    assert payment.is_awaiting_answer
    assert payment.authorization_id is None


def test_the_id_is_derived_from_the_order() -> None:
    assert request_payment().id == request_payment().id == Payment.create_id(ORDER)
    assert request_payment(uuid5(UUID(int=0), "order-2")).id != Payment.create_id(ORDER)


class TestAnswer:
    def test_authorize_records_the_authorization(self) -> None:
        payment = payment_in(PaymentStatus.REQUESTED)

        assert facts(when(payment, authorize)) == [
            ("Authorized", {"order_id": ORDER, "authorization_id": "auth-1"}),
        ]
        assert payment.status is PaymentStatus.AUTHORIZED
        assert payment.authorization_id == "auth-1"
        assert not payment.is_awaiting_answer

    def test_decline_records_the_reason(self) -> None:
        payment = payment_in(PaymentStatus.REQUESTED)

        assert facts(when(payment, decline)) == [
            ("Declined", {"order_id": ORDER, "reason": "insufficient funds"}),
        ]
        assert payment.status is PaymentStatus.DECLINED

    def test_time_out(self) -> None:
        payment = payment_in(PaymentStatus.REQUESTED)

        assert facts(when(payment, Payment.time_out)) == [("TimedOut", {"order_id": ORDER})]
        assert payment.status is PaymentStatus.TIMED_OUT

    @pytest.mark.parametrize("status", states_except(PaymentStatus.REQUESTED))
    @pytest.mark.parametrize("answer", [authorize, decline, Payment.time_out],
                             ids=["authorize", "decline", "time out"])
    def test_only_a_requested_payment_can_be_answered(
        self, status: PaymentStatus, answer: Callable[[Payment], None],
    ) -> None:
        then_rejected(payment_in(status), answer, InvalidTransition)


class TestCapture:
    def test_an_authorized_payment_is_captured_for_its_amount(self) -> None:
        payment = payment_in(PaymentStatus.AUTHORIZED)

        assert facts(when(payment, Payment.capture)) == [("Captured", {"order_id": ORDER, "amount": AMOUNT})]
        assert payment.status is PaymentStatus.CAPTURED

    def test_a_payment_is_never_captured_twice(self) -> None:
        then_rejected(payment_in(PaymentStatus.CAPTURED), Payment.capture, PaymentAlreadyCaptured)

    @pytest.mark.parametrize("status", states_except(PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED))
    def test_only_an_authorized_payment_is_captured(self, status: PaymentStatus) -> None:
        then_rejected(payment_in(status), Payment.capture, InvalidTransition)


class TestVoidAndRefund:
    @pytest.mark.parametrize("status", [PaymentStatus.AUTHORIZED, PaymentStatus.REQUESTED])
    def test_an_authorized_or_unanswered_payment_is_voided(self, status: PaymentStatus) -> None:
        payment = payment_in(status)

        assert facts(when(payment, Payment.void)) == [("Voided", {"order_id": ORDER})]
        assert payment.status is PaymentStatus.VOIDED

    def test_a_voided_payment_can_no_longer_be_answered(self) -> None:
        payment = given(*history(request_payment(), Payment.void), kind=Payment)

        then_rejected(payment, authorize, InvalidTransition)

    @pytest.mark.parametrize("status", states_except(PaymentStatus.AUTHORIZED, PaymentStatus.REQUESTED))
    def test_only_an_authorized_or_unanswered_payment_is_voided(self, status: PaymentStatus) -> None:
        then_rejected(payment_in(status), Payment.void, InvalidTransition)

    def test_a_captured_payment_is_refunded_in_full(self) -> None:
        payment = payment_in(PaymentStatus.CAPTURED)

        assert facts(when(payment, Payment.refund)) == [("Refunded", {"order_id": ORDER, "amount": AMOUNT})]
        assert payment.status is PaymentStatus.REFUNDED

    @pytest.mark.parametrize("status", states_except(PaymentStatus.CAPTURED))
    def test_only_a_captured_payment_is_refunded(self, status: PaymentStatus) -> None:
        then_rejected(payment_in(status), Payment.refund, InvalidTransition)


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_the_events_alone_rebuild_the_live_payment(status: PaymentStatus) -> None:
    live = request_payment()
    events: list[Event] = history(live, *HISTORIES[status])

    assert given(*events, kind=Payment) == live
