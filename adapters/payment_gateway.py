"""A simulated card gateway whose behaviour the payment token chooses."""

from enum import StrEnum


class SimulatedToken(StrEnum):
    AUTHORIZES = "tok_ok"
    DECLINES = "tok_decline"
    NEVER_ANSWERS = "tok_timeout"


class SimulatedPaymentGateway:
    def accepts(self, token: str) -> bool:
        return token in SimulatedToken._value2member_map_
