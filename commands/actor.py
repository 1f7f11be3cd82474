"""Who is asking: the authenticated caller as the application services see it."""

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
