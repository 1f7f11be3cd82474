"""The command API's request and response bodies."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import msgspec

from domain.positions import MAX_POINTS
from domain.values import AMOUNT_PATTERN, MAX_AMOUNT, MAX_QUANTITY
from web.strict_input import PLAIN_TEXT, SOME_TEXT

Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY, description="a whole number of units, at least 1")]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90, examples=[-6.2])]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180, examples=[106.8166])]
Amount = Annotated[str, msgspec.Meta(
    pattern=AMOUNT_PATTERN, examples=["12.50"],
    description=f"a plain decimal string: digits, at most two decimals, above 0 and at most {MAX_AMOUNT}")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=SOME_TEXT)]


class Command(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class CreateProduct(Command, frozen=True):
    sku: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["TEA-001"])]
    name: Name
    price: Amount
    initial_stock: Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)] = 0


class UpdateProduct(Command, frozen=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    price: Amount | msgspec.UnsetType = msgspec.UNSET


class Restock(Command, frozen=True):
    quantity: Quantity
    reason: Name


class OrderItem(Command, frozen=True):
    product_id: UUID
    quantity: Quantity


class PaymentMethod(Command, frozen=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=SOME_TEXT, examples=["tok_ok"])]


class Delivery(Command, frozen=True):
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=SOME_TEXT)]
    lat: Latitude
    lng: Longitude


class PlaceOrder(Command, frozen=True):
    items: Annotated[list[OrderItem], msgspec.Meta(min_length=1, max_length=50)]
    payment: PaymentMethod
    delivery: Delivery


class CancelOrder(Command, frozen=True):
    reason: Annotated[str, msgspec.Meta(max_length=500, pattern=PLAIN_TEXT)] | None = None


class RegisterCourier(Command, frozen=True):
    name: Name
    lat: Latitude
    lng: Longitude


class ReportedPosition(Command, frozen=True):
    lat: Latitude
    lng: Longitude
    at: Annotated[datetime, msgspec.Meta(tz=True, examples=["2024-05-01T08:30:00Z"],
                                         description="when the courier was there (RFC 3339, with its time zone)")]


class CourierLocation(Command, frozen=True):
    """Either where the courier is now (`lat` and `lng`), or points it has not sent yet (`positions`, up to
    ten minutes' worth at one a second): one of the two forms, not both. A point is refused by its place in
    the report (`positions[3].at`, or `positions[3]` for a jump no courier makes); `lat` and `lng` are the
    report's one point, `positions[0]`."""

    lat: Latitude | None = None
    lng: Longitude | None = None
    positions: Annotated[list[ReportedPosition], msgspec.Meta(min_length=1, max_length=MAX_POINTS)] | None = None


class CourierShift(Command, frozen=True):
    on_duty: bool


class PickUpPoint(Command, frozen=True):
    """Where the goods were picked up; without it, where the courier was last recorded."""

    lat: Latitude
    lng: Longitude


class ShiftChanged(msgspec.Struct, frozen=True):
    id: UUID
    on_duty: bool
    position: int


class Product(msgspec.Struct, frozen=True):
    id: UUID
    sku: str
    name: str
    price: Decimal
    on_hand: int
    reserved: int
    available: int
    discontinued: bool
    position: int


class Accepted(msgspec.Struct, frozen=True):
    """A command was recorded at `position` in its context's log; read models catch up to it shortly."""

    id: UUID
    position: int


class LocationAccepted(msgspec.Struct, frozen=True):
    """The report's points are stored (`accepted`: how many were new). `position` is null: a report records no
    event; the route reaches the shipping log as a checkpoint now and then."""

    id: UUID
    accepted: int
    position: int | None = None


class OrderAccepted(msgspec.Struct, frozen=True):
    order_id: UUID
    status: str
    position: int


class StockAccepted(msgspec.Struct, frozen=True):
    product_id: UUID
    on_hand: int
    available: int
    position: int


class CourierRegistered(msgspec.Struct, frozen=True):
    id: UUID
    name: str
    token: str
    position: int


class Destination(msgspec.Struct, frozen=True):
    address: str
    lat: float
    lng: float


class Assignment(msgspec.Struct, frozen=True):
    """What a courier is to do now: the shipment it carries and where to."""

    courier_id: UUID
    status: str
    lat: float
    lng: float
    on_duty: bool = True
    shipment_id: UUID | None = None
    shipment_status: str | None = None
    order_id: UUID | None = None
    destination: Destination | None = None
