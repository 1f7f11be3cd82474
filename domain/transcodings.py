"""How our value objects are stored inside events and snapshots (JSON); pure, shared by writers and readers."""

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.values import DeliveryAddress, GeoPoint, OrderLine


class OrderLineAsDict(Transcoding):
    type = OrderLine
    name = "order_line"

    def encode(self, obj: OrderLine) -> dict[str, Any]:
        return {"product_id": obj.product_id, "quantity": obj.quantity, "unit_price": obj.unit_price}

    def decode(self, data: dict[str, Any]) -> OrderLine:
        product_id = data["product_id"]
        price = data["unit_price"]
        return OrderLine(
            product_id=product_id if isinstance(product_id, UUID) else UUID(product_id),
            quantity=int(data["quantity"]),
            unit_price=price if isinstance(price, Decimal) else Decimal(price),
        )


class DeliveryAddressAsDict(Transcoding):
    type = DeliveryAddress
    name = "delivery_address"

    def encode(self, obj: DeliveryAddress) -> dict[str, Any]:
        return {"address": obj.address, "lat": obj.lat, "lng": obj.lng}

    def decode(self, data: dict[str, Any]) -> DeliveryAddress:
        return DeliveryAddress(address=data["address"], lat=float(data["lat"]), lng=float(data["lng"]))


class GeoPointAsDict(Transcoding):
    type = GeoPoint
    name = "geo_point"

    def encode(self, obj: GeoPoint) -> dict[str, Any]:
        return {"lat": obj.lat, "lng": obj.lng}

    def decode(self, data: dict[str, Any]) -> GeoPoint:
        return GeoPoint(lat=float(data["lat"]), lng=float(data["lng"]))


def register_value_objects(transcoder: JSONTranscoder) -> None:
    transcoder.register(OrderLineAsDict())
    transcoder.register(DeliveryAddressAsDict())
    transcoder.register(GeoPointAsDict())
