"""Couriers' live positions as push frames: the broker's position messages read, and the frames made of them.

The position path publishes one message per accepted report (routing key `position.courier.<courier id>`, a
JSON body `{courier_id, shipment_id, order_id, lat, lng, at, eta, speed_mps}`), fire-and-forget: a lost one is
replaced by the next second's. So nothing here is resumable or de-duplicated by id as view changes are; a
position older than the newest one seen for its courier is simply dropped, so a marker never jumps back.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

__all__ = ["FLEET", "POSITION_KEY_PREFIX", "CourierPosition", "LiveFrame", "courier_topic", "fleet_frame",
           "parse_position"]

log = logging.getLogger(__name__)

POSITION_KEY_PREFIX: Final = "position.courier."
FLEET: Final = "fleet"
"""The operators' topic: every courier that moved, coalesced into one frame per interval."""


def courier_topic(courier_id: object) -> str:
    return f"courier:{courier_id}"


@dataclass(frozen=True)
class LiveFrame:
    """A frame that is sent as it comes and never resent: a newer one replaces it (positions, the fleet)."""

    topic: str
    frame: str = field(repr=False)


@dataclass(frozen=True)
class CourierPosition:
    courier_id: str
    order_id: str | None
    shipment_id: str | None
    lat: float
    lng: float
    at: str
    """RFC 3339, as the courier reported it."""
    moment: datetime = field(repr=False, compare=False)
    """`at` parsed, to tell which of two positions is newer."""
    eta: str | None = None
    speed_mps: float | None = None

    def fields(self) -> dict[str, Any]:
        """What a client is told of a position: `{courier_id, order_id, lat, lng, at, eta}`."""
        return {"courier_id": self.courier_id, "order_id": self.order_id, "lat": self.lat, "lng": self.lng,
                "at": self.at, "eta": self.eta}

    def frame(self) -> str:
        return json.dumps({"type": "position", **self.fields()}, separators=(",", ":"))


def fleet_frame(positions: Iterable[CourierPosition]) -> LiveFrame:
    return LiveFrame(FLEET, json.dumps({"type": "fleet", "positions": [position.fields() for position in positions]},
                                       separators=(",", ":")))


def parse_position(routing_key: str, body: bytes) -> CourierPosition | None:
    """A broker message as a courier's position; None (and a warning) for anything else, which no retry fixes."""
    if not routing_key.startswith(POSITION_KEY_PREFIX):
        return None
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("the body is not a JSON object")
        return _position(data)
    except ValueError as error:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too
        log.warning("malformed position message %s: %s; not pushed", routing_key, error)
        return None


def _position(data: Mapping[str, Any]) -> CourierPosition:
    lat, lng = _number(data, "lat", 90.0), _number(data, "lng", 180.0)
    at = data.get("at")
    if not isinstance(at, str):
        raise ValueError("at must be an RFC 3339 time")
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise ValueError("at must carry its offset")
    eta = data.get("eta")
    if eta is not None and (not isinstance(eta, str) or datetime.fromisoformat(eta).tzinfo is None):
        raise ValueError("eta must be an RFC 3339 time or null")
    speed = data.get("speed_mps")
    return CourierPosition(
        courier_id=_id(data, "courier_id", required=True) or "", order_id=_id(data, "order_id"),
        shipment_id=_id(data, "shipment_id"), lat=lat, lng=lng, at=at, moment=moment, eta=eta,
        speed_mps=float(speed) if isinstance(speed, int | float) and not isinstance(speed, bool) else None)


def _number(data: Mapping[str, Any], name: str, bound: float) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or abs(value) > bound:
        raise ValueError(f"{name} must be a number within ±{bound:g}")
    return float(value)


def _id(data: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an id")
    return str(UUID(value))  # canonical, so that topics match the ones clients follow
