"""Who is asking: the authenticated caller, as both sides of the platform see it (role and subject)."""

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    COURIER = "courier"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    role: Role
    subject: str
