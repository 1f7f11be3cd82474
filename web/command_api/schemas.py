"""The command API's request and response bodies."""

from decimal import Decimal
from typing import Annotated
from uuid import UUID

import msgspec

Quantity = Annotated[int, msgspec.Meta(ge=1, le=1_000_000, description="a whole number of units, at least 1")]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90, examples=[-6.2])]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180, examples=[106.8166])]
Amount = Annotated[Decimal, msgspec.Meta(description="a decimal string with at most two places", examples=["12.50"])]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Command(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class CreateProduct(Command, frozen=True):
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["TEA-001"])]
    name: Name
    price: Amount
    initial_stock: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0


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
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["tok_ok"])]


class Delivery(Command, frozen=True):
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    lat: Latitude
    lng: Longitude


class PlaceOrder(Command, frozen=True):
    items: Annotated[list[OrderItem], msgspec.Meta(min_length=1, max_length=50)]
    payment: PaymentMethod
    delivery: Delivery


class CancelOrder(Command, frozen=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class RegisterCourier(Command, frozen=True):
    name: Name
    lat: Latitude
    lng: Longitude


class CourierPosition(Command, frozen=True):
    lat: Latitude
    lng: Longitude


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
    shipment_id: UUID | None = None
    shipment_status: str | None = None
    order_id: UUID | None = None
    destination: Destination | None = None
