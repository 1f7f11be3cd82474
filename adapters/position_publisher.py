"""Couriers' positions announced on the message broker (`commands.ports.PositionPublisher`), fire and forget.

Not through the outbox: a position is no fact to keep, and a lost one is replaced by the courier's next
report a second later. One message per report that moved a courier, routing key `position.courier.<id>`.
"""

import json
from datetime import UTC, datetime
from typing import Final

from adapters.messaging import Message, MessageBroker
from commands.ports import CourierPosition

ROUTING_PREFIX: Final = "position.courier."
BINDING_KEY: Final = f"{ROUTING_PREFIX}*"
"""What a subscriber to every courier's positions binds."""


def routing_key(courier_id: object) -> str:
    return f"{ROUTING_PREFIX}{courier_id}"


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def position_body(position: CourierPosition) -> bytes:
    return json.dumps({
        "courier_id": str(position.courier_id),
        "shipment_id": str(position.shipment_id) if position.shipment_id else None,
        "order_id": str(position.order_id) if position.order_id else None,
        "lat": position.lat,
        "lng": position.lng,
        "at": _time(position.at),
        "eta": _time(position.eta),
        "speed_mps": position.speed_mps,
    }, separators=(",", ":")).encode()


class BrokerPositionPublisher:
    def __init__(self, broker: MessageBroker) -> None:
        self._broker = broker

    def publish(self, position: CourierPosition) -> None:
        message_id = f"position:{position.courier_id}:{_time(position.at)}"
        self._broker.publish_unconfirmed([Message(routing_key(position.courier_id), position_body(position),
                                                  message_id)])
