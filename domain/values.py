"""Value objects shared by several aggregates, with their validation."""

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Final
from uuid import UUID

from domain.errors import InvalidValue

EARTH_RADIUS_KM: Final = 6371.0088
MAX_QUANTITY: Final = 1_000_000
MAX_AMOUNT: Final = Decimal("1000000000.00")
"""The largest price or total we take: beyond any real catalog, far below where decimal arithmetic overflows."""

# A plain decimal in ASCII digits, above 0 and at most MAX_AMOUNT, with at most two decimals: no exponent,
# sign, spaces, separators or other scripts' digits.
_AMOUNT: Final = r"0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,8}(\.[0-9]{1,2})?|1000000000(\.00?)?"
AMOUNT_TEXT: Final = re.compile(_AMOUNT, re.ASCII)
AMOUNT_PATTERN: Final = f"^({_AMOUNT})$"
"""The same rule as a JSON Schema pattern, for the API documents."""

# Control characters (C0, DEL, C1) and lone surrogates: no person types them, and PostgreSQL's text and
# jsonb refuse NUL outright, so one of them stored in an event would stop every reader of that event.
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cs"})


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lng: float

    @classmethod
    def of(cls, lat: float, lng: float, field: str = "location") -> "GeoPoint":
        if not (_is_number(lat) and math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise InvalidValue(f"{field}.lat", "latitude must be between -90 and 90")
        if not (_is_number(lng) and math.isfinite(lng) and -180.0 <= lng <= 180.0):
            raise InvalidValue(f"{field}.lng", "longitude must be between -180 and 180")
        return cls(float(lat), float(lng))

    def distance_km(self, other: "GeoPoint") -> float:
        """Great-circle distance (haversine)."""
        lat1, lng1, lat2, lng2 = map(math.radians, (self.lat, self.lng, other.lat, other.lng))
        a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
        return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def money(value: Decimal | str | int, field: str = "price") -> Decimal:
    """A positive amount with at most two decimal places, up to MAX_AMOUNT.

    Text must be a plain decimal such as '12.50': exponents ('1e2'), signs, spaces, digit separators and
    digits of other scripts are refused rather than read, so what is stored is what the client wrote.
    """
    if isinstance(value, str):
        if not AMOUNT_TEXT.fullmatch(value):
            raise InvalidValue(field, f"must be a plain decimal amount above 0 and at most {MAX_AMOUNT}, with at "
                                      "most two decimals, such as '12.50'")
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    else:
        raise InvalidValue(field, "must be a decimal amount such as '12.50'")
    if not amount.is_finite() or amount <= 0:
        raise InvalidValue(field, "must be a positive amount")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise InvalidValue(field, "must have at most two decimal places")
    if amount > MAX_AMOUNT:
        raise InvalidValue(field, f"must be at most {MAX_AMOUNT}")
    return amount


def quantity(value: int, field: str = "quantity", minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_QUANTITY:
        raise InvalidValue(field, f"must be a whole number from {minimum} to {MAX_QUANTITY}")
    return value


def non_blank(value: str, field: str, max_length: int = 200) -> str:
    """Text a person typed: trimmed, not empty, not too long, and without control characters."""
    text = plain_text(value.strip(), field, max_length) if isinstance(value, str) else ""
    if not text:
        raise InvalidValue(field, "must not be empty")
    return text


def optional_text(value: str | None, field: str, max_length: int = 500) -> str | None:
    """Optional free text: None when missing or blank, else checked like `non_blank`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValue(field, "must be text")
    return plain_text(value.strip(), field, max_length) or None


def plain_text(value: str, field: str, max_length: int) -> str:
    """`value` unless it is too long or holds a control character (or a lone surrogate)."""
    if len(value) > max_length:
        raise InvalidValue(field, f"must be at most {max_length} characters")
    bad = next((character for character in value if unicodedata.category(character) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        raise InvalidValue(field, f"must not contain control characters (found U+{ord(bad):04X})")
    return value


@dataclass(frozen=True)
class OrderLine:
    """One product of an order, priced when the order was placed."""

    product_id: UUID
    quantity: int
    unit_price: Decimal

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class DeliveryAddress:
    address: str
    lat: float
    lng: float

    @property
    def point(self) -> GeoPoint:
        return GeoPoint(self.lat, self.lng)
