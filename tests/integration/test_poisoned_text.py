"""Text the API used to accept and PostgreSQL's text and jsonb cannot hold (NUL) must not stop the read side.

The events are stored the way they used to be: straight through the aggregates, past today's validation at
the edge and in the domain. The real projector's runners then follow the contexts, another customer's order
placed afterwards must reach the read models, and every readiness check must stay green.
"""

from decimal import Decimal
from uuid import uuid4

import pytest

from adapters.health import read_models_fresh
from adapters.health_server import supervised_loops_healthy
from adapters.settings import Settings
from commands.order_placement import RequestedItem
from composition.read_side import open_read_side
from composition.write_side import open_platform
from domain.errors import InvalidValue
from domain.order import Order
from domain.stock import Stock
from domain.values import DeliveryAddress, OrderLine
from queries.orders import OrderQueries
from queries.products import ProductQueries
from scripts.projector import projector_supervisor
from scripts.rebuild import run_rebuild
from tests.waiting import eventually

NUL = "\x00"


def test_a_nul_stored_in_events_neither_stops_the_read_side_nor_readiness(settings: Settings) -> None:
    with open_platform(settings) as platform, open_read_side(settings, platform.database, platform.broker) as read:
        inventory, orders = platform.write.inventory, platform.write.orders
        # A product named with a NUL, and an order to be delivered to an address with one.
        poisoned_product = Stock(sku="NUL-1", name=f"Kopi {NUL} Tubruk", price=Decimal("3.00"), initial_stock=5)
        inventory.save(poisoned_product)
        tea, _ = inventory.create_product("TEH-1", "Teh", "3.50", 10)
        poisoned_order = Order._create(
            Order.Placed,  # type: ignore[attr-defined]
            id=uuid4(), customer_id="mallory", lines=[OrderLine(tea.id, 1, Decimal("3.50"))], total=Decimal("3.50"),
            payment_token="tok_ok", delivery=DeliveryAddress(f"Jl. Jaksa {NUL} 5", -6.2, 106.8))
        orders.save(poisoned_order)

        supervisor = projector_supervisor(platform.database, platform.broker, settings)
        supervisor.start()
        try:
            later, _ = platform.write.place_order("alice", [RequestedItem(tea.id, 2)], "tok_ok",
                                                  DeliveryAddress("Jl. Thamrin 1", -6.19, 106.82))
            order_queries = OrderQueries(read.pool)

            def later_projected() -> bool:
                if order_queries.get(later.id) is not None:
                    return True
                failed = supervisor.states["readmodels-from-orders"].last_error
                assert failed is None, failed
                return False

            eventually(later_projected, timeout=60, interval=0.1, what="another customer's order in the read models")

            shown = order_queries.get(poisoned_order.id)
            assert shown is not None
            assert shown["delivery"]["address"] == "Jl. Jaksa \ufffd 5"
            # The products model follows the inventory context on a runner of its own: wait for it too.
            product_queries = ProductQueries(read.pool)
            product = eventually(lambda: product_queries.get(poisoned_product.id), timeout=60, interval=0.1,
                                 what="the product named with a NUL in the read models")
            assert product["name"] == "Kopi \ufffd Tubruk"
            assert all(state.last_error is None for state in supervisor.states.values()), supervisor.states
            assert read_models_fresh(platform.status, max_lag_s=30.0)() is None
            assert supervised_loops_healthy(supervisor)() is None
        finally:
            supervisor.stop()

        # A rebuild meets the same events: it must finish and agree with what the runners wrote.
        assert run_rebuild(settings, None, every=True, blue_green=True) == 0


def test_a_price_stored_before_prices_were_bounded_refuses_the_order_naming_the_line(settings: Settings) -> None:
    with open_platform(settings) as platform:
        huge = Stock(sku="HUGE-1", name="Emas", price=Decimal("1E+999999"), initial_stock=50)
        platform.write.inventory.save(huge)
        tea, _ = platform.write.inventory.create_product("TEH-2", "Teh", "3.50", 10)
        with pytest.raises(InvalidValue) as refused:
            platform.write.place_order("alice", [RequestedItem(tea.id, 1), RequestedItem(huge.id, 10)], "tok_ok",
                                       DeliveryAddress("Jl. Thamrin 1", -6.19, 106.82))
        assert refused.value.field == "items[1].product_id"
        # Nothing of the refused order was stored: the stock of both products is as it was.
        assert platform.write.inventory.repository.get(tea.id).available == 10
