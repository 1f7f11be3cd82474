"""Small pieces the read models share."""

from typing import Any, Final

from projections.event_data import context_of, event_id, event_name, fact_of, to_json_value
from projections.read_model import Doc


def touched(doc: Doc | None, entity_id: Any, event: Any) -> Doc:
    """The document to change: a copy of the current one, or a new one; `updated_at` is the latest event's time."""
    new: Doc = dict(doc) if doc else {"id": str(entity_id)}
    at = event.timestamp.isoformat()
    if at > new.get("updated_at", ""):
        new["updated_at"] = at
    return new


def timeline_entry(event: Any, **extra: Any) -> Doc:
    return {
        "at": event.timestamp.isoformat(),
        "context": context_of(event),
        "event": event_name(event),
        "fact": fact_of(event),
        "version": event.originator_version,
        "event_id": str(event_id(event)),
        **{key: to_json_value(value) for key, value in extra.items() if value is not None},
    }


def with_entry(entries: list[Doc] | None, entry: Doc) -> list[Doc]:
    """Add an entry once, keeping the list in time order whatever order the contexts' events came in."""
    current = [item for item in entries or [] if item["event_id"] != entry["event_id"]]
    current.append(entry)
    current.sort(key=lambda item: (item["at"], item["context"], item["version"], item["event_id"]))
    return current


CHECKPOINT_FACTS: Final = frozenset({"RouteCheckpoint", "LocationUpdated"})
"""A shipment's route at a bounded rate (`LocationUpdated` in stores older than the checkpoints)."""
POSITION_FACTS: Final = frozenset({"CourierAssigned", "PickedUp", *CHECKPOINT_FACTS})
"""The shipment facts that say where its courier was."""


def follow_journey(doc: Doc, fact: str, event: Any, at: str) -> None:
    """What every document of a shipment takes from its journey: the pick-up, the ETA, the delivery and the
    courier's last known position (positions of one shipment arrive in order, so the last one seen is it)."""
    if fact == "PickedUp":
        doc["picked_up_at"] = at
    elif fact == "RouteCheckpoint":
        doc["eta"] = event.eta
    elif fact in ("Delivered", "Cancelled"):
        doc["eta"] = None
    if fact == "Delivered":
        doc["delivered_at"] = at
    if fact in POSITION_FACTS:
        doc["position"] = {"lat": event.lat, "lng": event.lng, "at": at}
