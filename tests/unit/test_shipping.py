"""Couriers, shipments, and choosing the nearest free courier."""

from collections.abc import Callable
from uuid import UUID, uuid5

import pytest

from domain.errors import InvalidTransition, InvalidValue
from domain.shipping import (
    Courier,
    CourierStatus,
    Dispatcher,
    OffDutyReason,
    Shipment,
    ShipmentStatus,
    nearest_available,
)
from domain.values import DeliveryAddress, GeoPoint
from tests.unit.scenario import Command, facts, given, history, names, then_rejected, when

ORDER = uuid5(UUID(int=0), "order-1")
SHIPMENT = uuid5(UUID(int=0), "shipment-1")
OTHER_SHIPMENT = uuid5(UUID(int=0), "shipment-2")

MONAS = GeoPoint(-6.1754, 106.8272)
BUNDARAN_HI = GeoPoint(-6.1950, 106.8230)
KOTA_TUA = GeoPoint(-6.1352, 106.8133)
BOGOR = GeoPoint(-6.5971, 106.8060)
DESTINATION = DeliveryAddress("Jl. Medan Merdeka, Jakarta", MONAS.lat, MONAS.lng)


def courier_at(point: GeoPoint, *commands: Command[Courier], name: str = "Budi") -> Courier:
    return given(*history(Courier.register(name, point.lat, point.lng), *commands), kind=Courier)


def busy_courier_at(point: GeoPoint, name: str = "Budi") -> Courier:
    return courier_at(point, lambda c: c.take(OTHER_SHIPMENT), name=name)


def new_shipment() -> Shipment:
    return Shipment(order_id=ORDER, customer_id="customer-1", destination=DESTINATION)


def waiting_shipment() -> Shipment:
    return given(*history(new_shipment()), kind=Shipment)


def assigned_shipment(*commands: Command[Shipment], courier: Courier | None = None) -> Shipment:
    carrier = courier or courier_at(BUNDARAN_HI)
    return given(*history(new_shipment(), lambda s: s.assign(carrier), *commands), kind=Shipment)


def shipment_in_transit(*commands: Command[Shipment]) -> Shipment:
    return assigned_shipment(lambda s: s.pick_up(BUNDARAN_HI), *commands)


class TestShifts:
    def test_a_registered_courier_is_on_duty_and_free(self) -> None:
        courier = courier_at(MONAS)

        assert courier.on_duty
        assert courier.is_available

    def test_ending_the_shift_takes_the_courier_out_of_dispatch(self) -> None:
        courier = courier_at(MONAS)

        assert facts(when(courier, lambda c: c.go_off_duty(OffDutyReason.SHIFT_ENDED))) == [
            ("WentOffDuty", {"reason": "shift_ended"})]
        assert not courier.on_duty
        assert not courier.is_available
        then_rejected(courier, lambda c: c.take(SHIPMENT), InvalidTransition)

    def test_a_courier_back_on_duty_is_free_again(self) -> None:
        courier = courier_at(MONAS, lambda c: c.go_off_duty(OffDutyReason.SILENT))

        assert names(when(courier, Courier.go_on_duty)) == ["WentOnDuty"]
        assert courier.is_available

    def test_a_courier_holding_a_shipment_cannot_go_off_duty(self) -> None:
        then_rejected(busy_courier_at(MONAS), lambda c: c.go_off_duty(OffDutyReason.SHIFT_ENDED), InvalidTransition)

    @pytest.mark.parametrize("courier", [
        lambda: courier_at(MONAS),
        lambda: courier_at(MONAS, lambda c: c.go_off_duty(OffDutyReason.SHIFT_ENDED)),
    ], ids=["on duty", "off duty"])
    def test_a_shift_change_to_what_it_already_is_is_refused(self, courier: Callable[[], Courier]) -> None:
        each = courier()
        change = Courier.go_on_duty if each.on_duty else (lambda c: c.go_off_duty(OffDutyReason.SHIFT_ENDED))
        then_rejected(each, change, InvalidTransition)

    def test_only_couriers_on_duty_are_nearest_available(self) -> None:
        near = courier_at(MONAS, lambda c: c.go_off_duty(OffDutyReason.SHIFT_ENDED))
        far = courier_at(BOGOR, name="Ani")

        assert nearest_available([near, far], MONAS) is far


class TestCourier:
    def test_registering_records_name_and_position(self) -> None:
        events = history(Courier.register("  Budi  ", -6, 106.8))

        assert facts(events) == [("Registered", {"name": "Budi", "lat": -6.0, "lng": 106.8})]
        courier = given(*events, kind=Courier)
        assert courier.position == GeoPoint(-6.0, 106.8)
        assert courier.status is CourierStatus.AVAILABLE
        assert courier.is_available
        assert courier.shipment_id is None

    @pytest.mark.parametrize(("name", "lat", "lng", "field"), [
        ("", -6.0, 106.8, "name"),
        ("   ", -6.0, 106.8, "name"),
        ("Budi", -90.5, 106.8, "location.lat"),
        ("Budi", float("nan"), 106.8, "location.lat"),
        ("Budi", -6.0, 180.1, "location.lng"),
        ("Budi", -6.0, float("-inf"), "location.lng"),
    ])
    def test_invalid_registrations_are_refused(self, name: str, lat: float, lng: float, field: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            Courier.register(name, lat, lng)

        assert refused.value.field == field

    @pytest.mark.parametrize("busy", [False, True], ids=["available", "busy"])
    def test_a_courier_moves(self, busy: bool) -> None:
        courier = busy_courier_at(MONAS) if busy else courier_at(MONAS)

        events = when(courier, lambda c: c.move_to(KOTA_TUA.lat, KOTA_TUA.lng))

        assert facts(events) == [("LocationUpdated", {"lat": KOTA_TUA.lat, "lng": KOTA_TUA.lng})]
        assert courier.position == KOTA_TUA

    @pytest.mark.parametrize(("lat", "lng", "field"), [
        (91.0, 0.0, "location.lat"),
        (0.0, -180.01, "location.lng"),
    ])
    def test_moving_off_the_map_is_refused(self, lat: float, lng: float, field: str) -> None:
        refused = then_rejected(courier_at(MONAS), lambda c: c.move_to(lat, lng), InvalidValue)

        assert refused.value.field == field

    def test_an_available_courier_takes_a_shipment(self) -> None:
        courier = courier_at(MONAS)

        assert facts(when(courier, lambda c: c.take(SHIPMENT))) == [("BecameBusy", {"shipment_id": SHIPMENT})]
        assert courier.status is CourierStatus.BUSY
        assert courier.shipment_id == SHIPMENT

    def test_a_busy_courier_cannot_take_another_shipment(self) -> None:
        courier = busy_courier_at(MONAS)

        then_rejected(courier, lambda c: c.take(SHIPMENT), InvalidTransition)
        assert courier.shipment_id == OTHER_SHIPMENT

    def test_a_busy_courier_is_released(self) -> None:
        courier = busy_courier_at(MONAS)

        assert names(when(courier, Courier.release)) == ["BecameAvailable"]
        assert courier.is_available
        assert courier.shipment_id is None

    def test_an_available_courier_cannot_be_released(self) -> None:
        then_rejected(courier_at(MONAS), Courier.release, InvalidTransition)

    def test_a_released_courier_takes_the_next_shipment(self) -> None:
        courier = courier_at(MONAS, lambda c: c.take(OTHER_SHIPMENT), Courier.release)

        assert names(when(courier, lambda c: c.take(SHIPMENT))) == ["BecameBusy"]


class TestShipment:
    def test_a_shipment_waits_for_a_courier(self) -> None:
        events = history(new_shipment())

        assert facts(events) == [("Created", {"order_id": ORDER, "customer_id": "customer-1",
                                              "destination": DESTINATION})]
        shipment = given(*events, kind=Shipment)
        assert shipment.id == Shipment.create_id(ORDER)
        assert shipment.status is ShipmentStatus.WAITING_FOR_COURIER
        assert (shipment.courier_id, shipment.position) == (None, None)

    def test_assigning_makes_the_courier_busy_and_the_shipment_assigned_where_the_courier_is(self) -> None:
        shipment = waiting_shipment()
        courier = courier_at(BUNDARAN_HI)

        events = when(shipment, lambda s: s.assign(courier))

        assert facts(events) == [
            ("CourierAssigned", {
                "order_id": ORDER, "courier_id": courier.id, "lat": BUNDARAN_HI.lat, "lng": BUNDARAN_HI.lng,
            }),
        ]
        assert facts(courier.collect_events()) == [("BecameBusy", {"shipment_id": shipment.id})]
        assert shipment.status is ShipmentStatus.ASSIGNED
        assert (shipment.courier_id, shipment.position) == (courier.id, BUNDARAN_HI)
        assert courier.status is CourierStatus.BUSY
        assert courier.shipment_id == shipment.id

    def test_a_busy_courier_is_not_assigned(self) -> None:
        courier = busy_courier_at(BUNDARAN_HI)

        then_rejected(waiting_shipment(), lambda s: s.assign(courier), InvalidTransition, untouched=[courier])

    def test_a_shipment_with_a_courier_is_not_assigned_another(self) -> None:
        other = courier_at(KOTA_TUA, name="Siti")

        then_rejected(shipment_in_transit(), lambda s: s.assign(other), InvalidTransition, untouched=[other])
        assert other.is_available

    @pytest.mark.parametrize("shipment", [assigned_shipment, shipment_in_transit], ids=["assigned", "in transit"])
    def test_a_route_checkpoint_records_where_the_courier_was_and_the_eta(
            self, shipment: Callable[[], Shipment]) -> None:
        travelling = shipment()

        events = when(travelling, lambda s: s.record_checkpoint(KOTA_TUA, "2026-12-01T12:30:00+00:00"))

        assert facts(events) == [("RouteCheckpoint", {"order_id": ORDER, "lat": KOTA_TUA.lat, "lng": KOTA_TUA.lng,
                                                      "eta": "2026-12-01T12:30:00+00:00"})]
        assert travelling.position == KOTA_TUA

    @pytest.mark.parametrize("shipment", [waiting_shipment, lambda: shipment_in_transit(Shipment.deliver)],
                             ids=["waiting", "delivered"])
    def test_only_a_shipment_on_its_way_has_a_route(self, shipment: Callable[[], Shipment]) -> None:
        then_rejected(shipment(), lambda s: s.record_checkpoint(KOTA_TUA, None), InvalidTransition)

    def test_an_assigned_shipment_is_picked_up_and_goes_in_transit(self) -> None:
        courier = courier_at(BUNDARAN_HI)
        shipment = assigned_shipment(courier=courier)

        events = when(shipment, lambda s: s.pick_up(KOTA_TUA))

        assert facts(events) == [("PickedUp", {"order_id": ORDER, "courier_id": courier.id, "lat": KOTA_TUA.lat,
                                               "lng": KOTA_TUA.lng})]
        assert shipment.status is ShipmentStatus.IN_TRANSIT

    @pytest.mark.parametrize("shipment", [waiting_shipment, shipment_in_transit], ids=["waiting", "picked up"])
    def test_only_an_assigned_shipment_is_picked_up(self, shipment: Callable[[], Shipment]) -> None:
        then_rejected(shipment(), lambda s: s.pick_up(KOTA_TUA), InvalidTransition)

    def test_an_unpicked_shipment_is_taken_back_from_its_courier_and_waits_again(self) -> None:
        courier, shipment = courier_at(BUNDARAN_HI), waiting_shipment()
        shipment.assign(courier)
        for aggregate in (shipment, courier):
            list(aggregate.collect_events())

        events = when(shipment, lambda s: s.unassign(courier, OffDutyReason.SHIFT_ENDED))

        assert facts(events) == [("CourierUnassigned", {
            "order_id": ORDER, "courier_id": courier.id, "reason": "shift_ended", "dest_lat": MONAS.lat,
            "dest_lng": MONAS.lng, "waiting_since": shipment.created_on.isoformat()})]
        assert (shipment.status, shipment.courier_id) == (ShipmentStatus.WAITING_FOR_COURIER, None)
        assert names(list(courier.collect_events())) == ["BecameAvailable"]
        assert courier.is_available

    def test_a_picked_up_shipment_cannot_be_taken_back(self) -> None:
        courier = courier_at(BUNDARAN_HI)
        shipment = given(*history(new_shipment(), lambda s: s.assign(courier), lambda s: s.pick_up(MONAS)),
                         kind=Shipment)

        then_rejected(shipment, lambda s: s.unassign(courier, OffDutyReason.SHIFT_ENDED), InvalidTransition)

    def test_a_shipment_in_transit_is_delivered(self) -> None:
        shipment = shipment_in_transit(lambda s: s.record_checkpoint(KOTA_TUA, None))

        assert facts(when(shipment, Shipment.deliver)) == [("Delivered", {"order_id": ORDER})]
        assert shipment.status is ShipmentStatus.DELIVERED

    @pytest.mark.parametrize("shipment", [waiting_shipment, assigned_shipment], ids=["waiting", "not picked up"])
    def test_a_shipment_not_picked_up_is_not_delivered(self, shipment: Callable[[], Shipment]) -> None:
        then_rejected(shipment(), Shipment.deliver, InvalidTransition)

    def test_a_shipment_is_delivered_only_once(self) -> None:
        then_rejected(shipment_in_transit(Shipment.deliver), Shipment.deliver, InvalidTransition)

    @pytest.mark.parametrize("shipment", [waiting_shipment, assigned_shipment, shipment_in_transit],
                             ids=["waiting", "assigned", "in transit"])
    def test_a_shipment_not_yet_delivered_can_be_cancelled(self, shipment: Callable[[], Shipment]) -> None:
        cancelled = shipment()

        assert facts(when(cancelled, Shipment.cancel)) == [("Cancelled", {"order_id": ORDER})]
        assert cancelled.status is ShipmentStatus.CANCELLED

    @pytest.mark.parametrize("shipment", [
        lambda: shipment_in_transit(Shipment.deliver),
        lambda: shipment_in_transit(Shipment.cancel),
        lambda: given(*history(new_shipment(), Shipment.cancel), kind=Shipment),
    ], ids=["delivered", "cancelled in transit", "cancelled waiting"])
    def test_a_delivered_or_cancelled_shipment_stays_so(self, shipment: Callable[[], Shipment]) -> None:
        then_rejected(shipment(), Shipment.cancel, InvalidTransition)

    @pytest.mark.parametrize("command", [
        Shipment.deliver,
        lambda s: s.record_checkpoint(KOTA_TUA, None),
        lambda s: s.assign(courier_at(MONAS)),
    ], ids=["deliver", "move", "assign"])
    def test_a_cancelled_shipment_goes_nowhere(self, command: Command[Shipment]) -> None:
        then_rejected(shipment_in_transit(Shipment.cancel), command, InvalidTransition)

    def test_the_events_alone_rebuild_the_live_shipment(self) -> None:
        live = new_shipment()
        courier = courier_at(BOGOR)
        events = history(live, lambda s: s.assign(courier), lambda s: s.pick_up(BOGOR),
                         lambda s: s.record_checkpoint(MONAS, None), Shipment.deliver)

        assert given(*events, kind=Shipment) == live


class TestNearestAvailable:
    def test_the_closest_free_courier_is_chosen(self) -> None:
        far = courier_at(BOGOR, name="far")
        near = courier_at(BUNDARAN_HI, name="near")
        middle = courier_at(KOTA_TUA, name="middle")

        assert nearest_available([far, near, middle], MONAS) is near
        assert nearest_available([middle, far], MONAS) is middle

    def test_busy_couriers_are_passed_over_however_close(self) -> None:
        far = courier_at(BOGOR, name="far")
        busy_next_door = busy_courier_at(MONAS, name="busy")

        assert nearest_available([busy_next_door, far], MONAS) is far

    def test_distance_is_great_circle_not_degrees(self) -> None:
        # 1 degree of longitude at 60°N is about 55.6 km; 0.9 degree of latitude is about 100 km.
        east = courier_at(GeoPoint(60.0, 11.0), name="east")
        south = courier_at(GeoPoint(59.1, 10.0), name="south")

        assert nearest_available([south, east], GeoPoint(60.0, 10.0)) is east

    def test_none_when_every_courier_is_busy(self) -> None:
        couriers = [busy_courier_at(BUNDARAN_HI, name="a"), busy_courier_at(KOTA_TUA, name="b")]

        assert nearest_available(couriers, MONAS) is None

    def test_none_when_there_are_no_couriers(self) -> None:
        assert nearest_available([], MONAS) is None


class TestTheRetiredDispatcher:
    """Nothing records a Dispatcher any more; the streams older stores hold must still replay."""

    def test_an_old_dispatcher_history_replays(self) -> None:
        courier_id = uuid5(UUID(int=0), "courier-1")
        events = history(Dispatcher(), lambda d: d.enroll(courier_id), lambda d: d.queue(SHIPMENT),
                         lambda d: d.queue(OTHER_SHIPMENT), lambda d: d.dequeue(SHIPMENT))

        assert names(events) == ["Opened", "CourierEnrolled", "ShipmentQueued", "ShipmentQueued", "ShipmentDequeued"]
        dispatcher = given(*events, kind=Dispatcher)
        assert dispatcher.id == Dispatcher.create_id()
        assert (dispatcher.couriers, dispatcher.waiting) == ([courier_id], [OTHER_SHIPMENT])


def test_a_waiting_shipment_handed_to_a_freed_courier_keeps_its_own_orders_correlation() -> None:
    """Regression: the hand-over used to carry the correlation of whatever freed the courier."""
    from uuid import uuid4

    from commands.shipping import Shipping
    from domain.base import message_context
    from domain.values import DeliveryAddress

    shipping = Shipping()
    first_order, waiting_order = uuid4(), uuid4()
    courier, _ = shipping.register_courier("Ani", -6.2, 106.8)
    with message_context(str(first_order), "test"):
        shipping.save(*shipping.ship_order(first_order, "alice", DeliveryAddress("x", -6.2, 106.8)))
    with message_context(str(waiting_order), "test"):
        shipping.save(*shipping.ship_order(waiting_order, "bob", DeliveryAddress("y", -6.21, 106.81)))
    with message_context(str(first_order), "receipt"):
        shipping.save(*shipping.free_courier(courier.id))
    waiting = shipping.find_shipment_for(waiting_order)
    assert waiting is not None
    assigned = [event for event in shipping.events.get(waiting.id) if type(event).__name__ == "CourierAssigned"]
    assert [event.correlation_id for event in assigned] == [str(waiting_order)]  # type: ignore[attr-defined]
