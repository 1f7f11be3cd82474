"""The payments read model: where each order's payment stands, and how it got there.

The card token of `Payment.Requested` is a secret that must never leave the event store, so the reducer copies
named fields only and never the event's data as a whole.
"""

from typing import Any
from uuid import UUID

from domain.payment import PaymentStatus
from projections.event_data import aggregate_type, fact_of, to_json_value
from projections.models.common import touched
from projections.read_model import Column, Doc, Documents, ReadModel

STATUS_AFTER = {
    "Requested": PaymentStatus.REQUESTED,
    "Authorized": PaymentStatus.AUTHORIZED,
    "Declined": PaymentStatus.DECLINED,
    "TimedOut": PaymentStatus.TIMED_OUT,
    "Captured": PaymentStatus.CAPTURED,
    "Voided": PaymentStatus.VOIDED,
    "Refunded": PaymentStatus.REFUNDED,
}


def payment_id_of(event: Any) -> UUID | None:
    if aggregate_type(event) != "Payment":
        return None
    payment_id: UUID = event.originator_id
    return payment_id


def reduce_payment(doc: Doc | None, event: Any) -> Doc:
    # A redelivered event would otherwise add its history entry twice.
    if doc is not None and event.originator_version <= doc.get("version", 0):
        return doc
    new = touched(doc, event.originator_id, event)
    fact = fact_of(event)
    # Every payment event names its order, so the document has it even if it was started by a later event.
    new["order_id"] = to_json_value(event.order_id)
    if fact == "Requested":
        new.update({"amount": to_json_value(event.amount), "authorization_id": None, "decline_reason": None})
    elif fact == "Authorized":
        new["authorization_id"] = event.authorization_id
    elif fact == "Declined":
        new["decline_reason"] = event.reason
    status = STATUS_AFTER.get(fact)
    if status is not None:
        new["status"] = status.value
        new["history"] = [*new.get("history", []), {"status": status.value, "at": event.timestamp.isoformat()}]
    new["version"] = event.originator_version
    return new


def _order_id(doc: Doc) -> UUID | None:
    value = doc.get("order_id")
    return UUID(value) if value else None


PAYMENTS = ReadModel(
    name="payments",
    upstreams=frozenset({"Payments"}),
    documents=Documents(
        key=payment_id_of,
        reduce=reduce_payment,
        kind="payment",
        columns=(
            Column("order_id", "uuid", _order_id),
            Column("status", "text", lambda doc: doc.get("status")),
        ),
    ),
)
