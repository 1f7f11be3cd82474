"""Couriers' shifts on the real PostgreSQL: ending one hands an unpicked shipment to the nearest free on-duty
courier (and the order's own events say so), starting one takes the oldest waiting shipment, an off-duty
courier is never dispatched, a silent one loses what it has not picked up. The dispatch index moves with the
events, in their transaction."""

from collections.abc import Iterator
from contextlib import closing
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.database import Database
from adapters.dispatch_index import DispatchIndexRecorder, IndexSnapshot
from adapters.event_log import notification_pages
from commands.saga_steps import ShippingSagaStep
from commands.shipping import Shipping
from composition.contexts import runner_env
from composition.migration import migrate
from domain.base import message_context
from domain.errors import InvalidTransition
from domain.identity import Actor, Role
from domain.shipping import OffDutyReason, Shipment, ShipmentStatus
from domain.values import DeliveryAddress

HOME = DeliveryAddress("Jl. Jaksa 5", -6.186, 106.83)
OPERATOR = Actor(Role.ADMIN, "operator")


def courier_actor(courier_id: UUID) -> Actor:
    return Actor(Role.COURIER, str(courier_id))


def snapshot(app: Shipping) -> IndexSnapshot:
    assert isinstance(app.recorder, DispatchIndexRecorder)
    return app.recorder.snapshot()


def index_rows(app: Shipping) -> dict[UUID, tuple[bool, UUID | None]]:
    """Courier -> (free for dispatch, the shipment it holds), as the index has them."""
    return {row.courier_id: (row.available, row.shipment_id) for row in snapshot(app).couriers}


def waiting(app: Shipping) -> list[UUID]:
    return [row.shipment_id for row in sorted(snapshot(app).waiting, key=lambda row: row.queued_at)]


def correlated(app: Shipping, correlation_id: UUID) -> list[Any]:
    """The shipping log's events of one order's story, in the log's order."""
    found = []
    for page in notification_pages(app.recorder, page_size=500):
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            if getattr(event, "correlation_id", None) == str(correlation_id):
                found.append(event)
    return found


@pytest.fixture
def shipping(database: Database) -> Iterator[Shipping]:
    migrate(database)
    with closing(Shipping(env=runner_env(database))) as app:
        yield app


def ship(shipping: Shipping, destination: DeliveryAddress = HOME) -> tuple[UUID, UUID]:
    """A confirmed order shipped as the saga ships it: (order id, shipment id)."""
    order_id = uuid4()
    with message_context(str(order_id), "Orders:1"):  # the step works on the order's confirmation
        shipping.save(*shipping.ship_order(order_id, f"customer-{order_id.hex[:6]}", destination))
    return order_id, Shipment.create_id(order_id)


def test_ending_a_shift_hands_an_unpicked_shipment_to_the_nearest_free_on_duty_courier(shipping: Shipping) -> None:
    leaving, _ = shipping.register_courier("Leaving", HOME.lat, HOME.lng)
    resting, _ = shipping.register_courier("Resting", HOME.lat + 0.002, HOME.lng)  # nearer, but off duty
    shipping.set_shift(OPERATOR, resting.id, on_duty=False)
    near, _ = shipping.register_courier("Near", HOME.lat + 0.01, HOME.lng)
    far, _ = shipping.register_courier("Far", HOME.lat + 0.2, HOME.lng)
    order_id, shipment_id = ship(shipping)
    assert shipping.get_shipment(shipment_id).courier_id == leaving.id

    courier, _ = shipping.set_shift(courier_actor(leaving.id), leaving.id, on_duty=False)

    assert not courier.on_duty
    shipment = shipping.get_shipment(shipment_id)
    assert (shipment.status, shipment.courier_id) == (ShipmentStatus.ASSIGNED, near.id)
    assert shipping.get_courier(leaving.id).shipment_id is None
    assert shipping.get_courier(near.id).shipment_id == shipment_id
    assert index_rows(shipping) == {leaving.id: (False, None), resting.id: (False, None),
                                    near.id: (False, shipment_id), far.id: (True, None)}
    assert waiting(shipping) == []
    # The order's story, as the audit trace shows it: the first courier let go, the nearest free one taken.
    story = [(type(event).__name__, event) for event in correlated(shipping, order_id)
             if event.originator_id == shipment_id]
    assert [name for name, _ in story] == ["Created", "CourierAssigned", "CourierUnassigned", "CourierAssigned"]
    unassigned, reassigned = story[2][1], story[3][1]
    assert (unassigned.courier_id, unassigned.reason) == (leaving.id, OffDutyReason.SHIFT_ENDED.value)
    assert reassigned.courier_id == near.id
    courier_facts = {(type(event).__name__, event.originator_id) for event in correlated(shipping, order_id)
                     if event.originator_id != shipment_id}
    assert {("BecameAvailable", leaving.id), ("BecameBusy", near.id)} <= courier_facts


def test_a_shipment_handed_back_with_no_free_courier_waits_at_its_first_place_in_the_queue(
        shipping: Shipping) -> None:
    older_order, older = ship(shipping)  # nobody on duty yet: it waits
    leaving, _ = shipping.register_courier("Leaving", HOME.lat, HOME.lng)  # takes the one that waited
    assert shipping.get_shipment(older).courier_id == leaving.id
    _, younger = ship(shipping)

    shipping.set_shift(courier_actor(leaving.id), leaving.id, on_duty=False)

    assert shipping.get_shipment(older).status is ShipmentStatus.WAITING_FOR_COURIER
    assert waiting(shipping) == [older, younger]  # it has waited since it was created
    assert index_rows(shipping) == {leaving.id: (False, None)}
    assert correlated(shipping, older_order)[-1].reason == OffDutyReason.SHIFT_ENDED.value


def test_a_courier_coming_on_duty_takes_the_oldest_waiting_shipment(shipping: Shipping) -> None:
    courier, _ = shipping.register_courier("Budi", HOME.lat, HOME.lng)
    shipping.set_shift(courier_actor(courier.id), courier.id, on_duty=False)
    _, oldest = ship(shipping)
    _, nearer_but_younger = ship(shipping, DeliveryAddress("Jl. Budi 1", courier.position.lat, courier.position.lng))
    assert waiting(shipping) == [oldest, nearer_but_younger]

    back, _ = shipping.set_shift(courier_actor(courier.id), courier.id, on_duty=True)

    assert (back.on_duty, back.shipment_id) == (True, oldest)
    assert shipping.get_shipment(oldest).courier_id == courier.id
    assert waiting(shipping) == [nearer_but_younger]
    assert index_rows(shipping) == {courier.id: (False, oldest)}


def test_an_off_duty_courier_is_never_dispatched(shipping: Shipping, database: Database) -> None:
    resting, _ = shipping.register_courier("Resting", HOME.lat, HOME.lng)
    shipping.set_shift(OPERATOR, resting.id, on_duty=False)

    _, shipped = ship(shipping)  # the saga's decision
    with closing(ShippingSagaStep(env=runner_env(database))) as sweeper:
        assert sweeper.dispatch_waiting() == 0  # nor the worker's sweep
    leaving, _ = shipping.register_courier("Leaving", HOME.lat + 0.3, HOME.lng)  # takes the waiting one
    assert shipping.get_shipment(shipped).courier_id == leaving.id
    shipping.set_shift(courier_actor(leaving.id), leaving.id, on_duty=False)  # nor a shift's hand-back

    assert shipping.get_shipment(shipped).status is ShipmentStatus.WAITING_FOR_COURIER
    assert shipping.get_courier(resting.id).shipment_id is None
    assert index_rows(shipping)[resting.id] == (False, None)
    assert waiting(shipping) == [shipped]
    with pytest.raises(InvalidTransition):
        shipping.get_shipment(shipped).assign(shipping.get_courier(resting.id))  # the aggregate refuses it too


def test_a_courier_carrying_a_picked_up_shipment_keeps_its_shift_until_it_delivers(shipping: Shipping) -> None:
    carrier, _ = shipping.register_courier("Carrier", HOME.lat, HOME.lng)
    shipping.register_courier("Other", HOME.lat + 0.01, HOME.lng)
    order_id, shipment_id = ship(shipping)
    shipping.pick_up(courier_actor(carrier.id), shipment_id)

    with pytest.raises(InvalidTransition):
        shipping.set_shift(courier_actor(carrier.id), carrier.id, on_duty=False)

    assert shipping.get_courier(carrier.id).on_duty
    shipment = shipping.get_shipment(shipment_id)
    assert (shipment.status, shipment.courier_id) == (ShipmentStatus.IN_TRANSIT, carrier.id)
    assert shipping.reassign_silent(carrier.id) == 0  # a silent carrier keeps the goods it has
    assert index_rows(shipping)[carrier.id] == (False, shipment_id)
    assert [type(event).__name__ for event in correlated(shipping, order_id)
            if event.originator_id == shipment_id] == ["Created", "CourierAssigned", "PickedUp"]


def test_a_silent_courier_loses_its_unpicked_shipment_and_goes_off_duty(shipping: Shipping) -> None:
    silent, _ = shipping.register_courier("Silent", HOME.lat, HOME.lng)
    other, _ = shipping.register_courier("Other", HOME.lat + 0.01, HOME.lng)
    order_id, shipment_id = ship(shipping)

    assert shipping.reassign_silent(silent.id) == 1

    assert not shipping.get_courier(silent.id).on_duty
    assert shipping.get_shipment(shipment_id).courier_id == other.id
    assert index_rows(shipping) == {silent.id: (False, None), other.id: (False, shipment_id)}
    unassigned = next(event for event in correlated(shipping, order_id) if type(event).__name__ == "CourierUnassigned")
    assert (unassigned.courier_id, unassigned.reason) == (silent.id, OffDutyReason.SILENT.value)
