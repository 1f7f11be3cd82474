"""A simulated card gateway whose behaviour the payment token chooses."""

from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from commands.ports import Authorization, Decline


class SimulatedToken(StrEnum):
    AUTHORIZES = "tok_ok"
    DECLINES = "tok_decline"
    NEVER_ANSWERS = "tok_timeout"


class SimulatedPaymentGateway:
    def accepts(self, token: str) -> bool:
        return token in SimulatedToken._value2member_map_

    def authorize(self, payment_id: UUID, token: str, amount: Decimal) -> Authorization | Decline | None:
        if token == SimulatedToken.AUTHORIZES:
            # Derived from the payment id, so asking again for the same payment yields the same authorization.
            return Authorization(authorization_id=f"auth_{payment_id.hex[:16]}")
        if token == SimulatedToken.DECLINES:
            return Decline(reason="card declined")
        return None
