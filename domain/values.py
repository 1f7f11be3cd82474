"""Value objects shared by several aggregates, with their validation."""

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final
from uuid import UUID

from domain.errors import InvalidValue

EARTH_RADIUS_KM: Final = 6371.0088
MAX_QUANTITY: Final = 1_000_000


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lng: float

    @classmethod
    def of(cls, lat: float, lng: float, field: str = "location") -> "GeoPoint":
        if not (isinstance(lat, int | float) and math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise InvalidValue(f"{field}.lat", "latitude must be between -90 and 90")
        if not (isinstance(lng, int | float) and math.isfinite(lng) and -180.0 <= lng <= 180.0):
            raise InvalidValue(f"{field}.lng", "longitude must be between -180 and 180")
        return cls(float(lat), float(lng))

    def distance_km(self, other: "GeoPoint") -> float:
        """Great-circle distance (haversine)."""
        lat1, lng1, lat2, lng2 = map(math.radians, (self.lat, self.lng, other.lat, other.lng))
        a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
        return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def money(value: Decimal | str | int, field: str = "price") -> Decimal:
    """A positive amount with at most two decimal places."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidValue(field, "must be a decimal amount such as '12.50'") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidValue(field, "must be a positive amount")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise InvalidValue(field, "must have at most two decimal places")
    return amount


def quantity(value: int, field: str = "quantity", minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_QUANTITY:
        raise InvalidValue(field, f"must be a whole number from {minimum} to {MAX_QUANTITY}")
    return value


def non_blank(value: str, field: str, max_length: int = 200) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidValue(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidValue(field, f"must be at most {max_length} characters")
    return text


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
