"""Every snapshotted aggregate comes back from its snapshot exactly as it was (JSON loses types easily)."""

from contextlib import ExitStack
from decimal import Decimal
from uuid import uuid4

from eventsourcing.domain import Aggregate

from adapters.database import Database
from adapters.settings import Settings
from commands.context_application import ContextApplication
from composition.migration import migrate
from composition.write_side import build_write_side
from domain.shipping import Courier, Shipment
from domain.values import DeliveryAddress


def _round_trip(app: ContextApplication, aggregate: Aggregate) -> Aggregate:
    app.take_snapshot(aggregate.id)
    snapshot = next(iter(app.snapshots.get(aggregate.id, desc=True, limit=1)))  # type: ignore[union-attr]
    assert snapshot.originator_version == aggregate.version
    restored: Aggregate = app.repository.get(aggregate.id)
    return restored


def test_snapshots_restore_state_and_types(database: Database, settings: Settings) -> None:
    migrate(database)
    with ExitStack() as stack:
        write = build_write_side(database, settings, stack)
        stock, _ = write.inventory.create_product("SNAP", "Snap", Decimal("2.50"), 5)
        order_id = uuid4()
        stock.reserve(order_id, 2)
        write.inventory.save(stock)
        restored_stock = _round_trip(write.inventory, stock)
        assert vars(restored_stock) == vars(stock)
        assert restored_stock.reservations == {order_id: 2}  # type: ignore[attr-defined]

        courier, _ = write.shipping.register_courier("Snap", -6.2, 106.8)
        changed = write.shipping.ship_order(order_id, "alice", DeliveryAddress("x", -6.21, 106.81))
        write.shipping.save(*changed)
        courier = write.shipping.get_courier(courier.id)
        restored_courier = _round_trip(write.shipping, courier)
        assert isinstance(restored_courier, Courier)
        assert vars(restored_courier) == vars(courier)
        assert restored_courier.status is courier.status
        assert not restored_courier.is_available

        shipment = write.shipping.find_shipment_for(order_id)
        assert shipment is not None
        restored_shipment = _round_trip(write.shipping, shipment)
        assert isinstance(restored_shipment, Shipment)
        assert vars(restored_shipment) == vars(shipment)
        assert restored_shipment.status is shipment.status
