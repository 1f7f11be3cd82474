"""A run of route checkpoints in a trace or a stream is one line: which events make a run, and which do not."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

from queries.audit import AuditEvent, CheckpointRun, collapse_checkpoints

SHIPMENT, OTHER_SHIPMENT, COURIER = (uuid5(UUID(int=0), name) for name in ("shipment", "other", "courier"))
T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)


def event(version: int, event_type: str, aggregate_id: UUID = SHIPMENT) -> AuditEvent:
    return AuditEvent(event_id=uuid5(aggregate_id, str(version)), context="shipping", position=version,
                      aggregate_type=event_type.split(".")[0], aggregate_id=aggregate_id, version=version,
                      event_type=event_type, occurred_at=T0 + timedelta(seconds=30 * version), correlation_id="o",
                      causation_id=None, data={})


def shape(items: list[AuditEvent | CheckpointRun[AuditEvent]]) -> list[str | tuple[str, int, int]]:
    return [(item.label, item.first.version, item.last.version) if isinstance(item, CheckpointRun)
            else item.event_type for item in items]


def test_consecutive_checkpoints_of_one_aggregate_are_one_run() -> None:
    events = [event(1, "Shipment.CourierAssigned"), event(2, "Shipment.PickedUp"),
              *(event(version, "Shipment.RouteCheckpoint") for version in range(3, 21)),
              event(21, "Shipment.Delivered")]

    collapsed = collapse_checkpoints(events, lambda item: item)

    assert shape(collapsed) == ["Shipment.CourierAssigned", "Shipment.PickedUp", ("18 route checkpoints", 3, 20),
                                "Shipment.Delivered"]
    run = collapsed[2]
    assert isinstance(run, CheckpointRun)
    assert [run.holds_version(version) for version in (2, 3, 20, 21)] == [False, True, True, False]


def test_a_lone_checkpoint_stays_a_line_and_another_aggregate_starts_another_run() -> None:
    events = [event(1, "Shipment.RouteCheckpoint"), event(2, "Shipment.PickedUp"),
              event(3, "Shipment.LocationUpdated"), event(4, "Shipment.RouteCheckpoint"),
              event(1, "Shipment.RouteCheckpoint", OTHER_SHIPMENT),
              event(2, "Shipment.RouteCheckpoint", OTHER_SHIPMENT),
              event(1, "Courier.LocationUpdated", COURIER)]

    assert shape(collapse_checkpoints(events, lambda item: item)) == [
        "Shipment.RouteCheckpoint", "Shipment.PickedUp", ("2 route checkpoints", 3, 4),
        ("2 route checkpoints", 1, 2), "Courier.LocationUpdated"]
