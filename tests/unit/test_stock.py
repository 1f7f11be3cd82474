"""The Stock aggregate (a product's catalog entry and its stock) and reserving a whole order across stocks."""

import random
from decimal import Decimal
from uuid import UUID, uuid4, uuid5

import pytest

from domain.errors import DomainError, InsufficientStock, InvalidValue, ProductDiscontinued
from domain.stock import Stock, reserve_order
from domain.values import OrderLine
from tests.unit.scenario import Command, Event, facts, given, history, names, then_rejected, when

ORDER = uuid5(UUID(int=0), "order-1")
OTHER_ORDER = uuid5(UUID(int=0), "order-2")
THIRD_ORDER = uuid5(UUID(int=0), "order-3")


def new_stock(
    sku: str = "COF-250", name: str = "Coffee 250g", price: str = "10.00", initial_stock: int = 10,
) -> Stock:
    return Stock.create(sku, name, price, initial_stock)


def stock_with(*commands: Command[Stock], initial_stock: int = 10, sku: str = "COF-250") -> Stock:
    """A stock rebuilt from its events: created with `initial_stock`, then these commands."""
    return given(*history(new_stock(sku=sku, initial_stock=initial_stock), *commands), kind=Stock)


def reserve(order_id: UUID, amount: int) -> Command[Stock]:
    return lambda stock: stock.reserve(order_id, amount)


def assert_invariants(stock: Stock) -> None:
    assert stock.on_hand >= 0, "stock on hand went negative"
    assert 0 <= stock.reserved <= stock.on_hand, "more reserved than on hand"
    assert stock.available == stock.on_hand - stock.reserved


class TestCreating:
    def test_records_the_product_with_its_initial_stock(self) -> None:
        events = history(new_stock())

        assert facts(events) == [("ProductCreated", {
            "sku": "COF-250", "name": "Coffee 250g", "price": Decimal("10.00"), "initial_stock": 10,
        })]
        stock = given(*events, kind=Stock)
        assert (stock.on_hand, stock.reserved, stock.available) == (10, 0, 10)
        assert not stock.discontinued

    def test_sku_is_trimmed_and_upper_cased_and_name_trimmed(self) -> None:
        stock = new_stock(sku="  cof-250.b_x  ", name="  Coffee  ")

        assert (stock.sku, stock.name) == ("COF-250.B_X", "Coffee")

    def test_zero_initial_stock_is_allowed(self) -> None:
        assert new_stock(initial_stock=0).available == 0

    def test_the_id_is_derived_from_the_sku(self) -> None:
        first = new_stock(sku="cof-250", name="Coffee", price="10.00")
        again = new_stock(sku=" COF-250 ", name="Other name", price="99.00", initial_stock=0)
        other = new_stock(sku="COF-500")

        assert first.id == again.id == Stock.create_id("COF-250")
        assert other.id != first.id

    @pytest.mark.parametrize("sku", ["", "   ", "-COF", ".COF", "COF 250", "COF/250", "C" * 65, "CAFÉ"])
    def test_an_invalid_sku_is_refused(self, sku: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            new_stock(sku=sku)

        assert refused.value.field == "sku"

    @pytest.mark.parametrize("name", ["", "   ", "x" * 201])
    def test_an_invalid_name_is_refused(self, name: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            new_stock(name=name)

        assert refused.value.field == "name"

    @pytest.mark.parametrize("price", ["0", "0.00", "-1.00", "abc", "", "10.001", "NaN", "Infinity"])
    def test_an_invalid_price_is_refused(self, price: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            new_stock(price=price)

        assert refused.value.field == "price"

    @pytest.mark.parametrize("initial_stock", [-1, -100, 1_000_001])
    def test_negative_or_huge_initial_stock_is_refused(self, initial_stock: int) -> None:
        with pytest.raises(InvalidValue) as refused:
            new_stock(initial_stock=initial_stock)

        assert refused.value.field == "initial_stock"


class TestUpdating:
    def test_a_new_name_is_recorded(self) -> None:
        stock = stock_with()

        assert facts(when(stock, lambda s: s.update(name="  Coffee 250 g "))) == [
            ("ProductUpdated", {"name": "Coffee 250 g", "price": None}),
        ]
        assert (stock.name, stock.price) == ("Coffee 250 g", Decimal("10.00"))

    def test_a_new_price_is_recorded(self) -> None:
        stock = stock_with()

        assert facts(when(stock, lambda s: s.update(price="12.50"))) == [
            ("ProductUpdated", {"name": None, "price": Decimal("12.50")}),
        ]
        assert stock.price == Decimal("12.50")

    def test_name_and_price_together(self) -> None:
        stock = stock_with()

        assert facts(when(stock, lambda s: s.update(name="Beans", price=Decimal("9.99")))) == [
            ("ProductUpdated", {"name": "Beans", "price": Decimal("9.99")}),
        ]

    @pytest.mark.parametrize(("name", "price"), [
        (None, None),
        ("Coffee 250g", None),
        (" Coffee 250g ", "10"),
        (None, "10.0"),
    ], ids=["nothing given", "same name", "same name and price", "equal price"])
    def test_nothing_changed_records_nothing(self, name: str | None, price: str | None) -> None:
        stock = stock_with()

        assert when(stock, lambda s: s.update(name=name, price=price)) == []

    @pytest.mark.parametrize(("name", "price", "field"), [("  ", None, "name"), (None, "-5", "price")])
    def test_invalid_values_are_refused(self, name: str | None, price: str | None, field: str) -> None:
        refused = then_rejected(stock_with(), lambda s: s.update(name=name, price=price), InvalidValue)

        assert refused.value.field == field


class TestDiscontinuing:
    def test_discontinue_is_recorded_once(self) -> None:
        stock = stock_with()

        assert names(when(stock, Stock.discontinue)) == ["ProductDiscontinued"]
        assert stock.discontinued
        assert when(stock, Stock.discontinue) == []

    @pytest.mark.parametrize("command", [
        lambda s: s.update(name="New name"),
        lambda s: s.update(price="1.00"),
        lambda s: s.restock(5, "delivery"),
        reserve(ORDER, 1),
    ], ids=["rename", "reprice", "restock", "reserve"])
    def test_a_discontinued_product_refuses_changes(self, command: Command[Stock]) -> None:
        stock = stock_with(Stock.discontinue)

        then_rejected(stock, command, ProductDiscontinued)
        assert not stock.can_reserve(1)

    def test_what_was_reserved_before_can_still_be_shipped_or_released(self) -> None:
        stock = stock_with(reserve(ORDER, 2), reserve(OTHER_ORDER, 3), Stock.discontinue)

        assert names(when(stock, lambda s: s.commit(ORDER))) == ["Committed"]
        assert names(when(stock, lambda s: s.release(OTHER_ORDER))) == ["Released"]
        assert (stock.on_hand, stock.reserved) == (8, 0)


class TestRestocking:
    def test_restock_adds_to_what_is_on_hand(self) -> None:
        stock = stock_with(reserve(ORDER, 4))

        assert facts(when(stock, lambda s: s.restock(5, " supplier delivery "))) == [
            ("Restocked", {"quantity": 5, "reason": "supplier delivery"}),
        ]
        assert (stock.on_hand, stock.reserved, stock.available) == (15, 4, 11)

    @pytest.mark.parametrize(("amount", "reason", "field"), [
        (0, "delivery", "quantity"),
        (-3, "delivery", "quantity"),
        (1_000_001, "delivery", "quantity"),
        (5, "  ", "reason"),
    ])
    def test_invalid_restocks_are_refused(self, amount: int, reason: str, field: str) -> None:
        refused = then_rejected(stock_with(), lambda s: s.restock(amount, reason), InvalidValue)

        assert refused.value.field == field


class TestReserving:
    def test_a_reservation_is_recorded_for_the_order(self) -> None:
        stock = stock_with()

        assert facts(when(stock, reserve(ORDER, 3))) == [("Reserved", {"order_id": ORDER, "quantity": 3})]
        assert (stock.on_hand, stock.reserved, stock.available) == (10, 3, 7)
        assert stock.reservations == {ORDER: 3}

    def test_everything_available_can_be_reserved(self) -> None:
        stock = stock_with(reserve(OTHER_ORDER, 6))

        assert names(when(stock, reserve(ORDER, 4))) == ["Reserved"]
        assert stock.available == 0

    @pytest.mark.parametrize("amount", [3, 4])
    def test_reserving_again_for_the_same_order_records_nothing(self, amount: int) -> None:
        stock = stock_with(reserve(ORDER, 3))

        assert when(stock, reserve(ORDER, amount)) == []
        assert stock.reservations == {ORDER: 3}

    @pytest.mark.parametrize(("initial_stock", "already_reserved", "amount"), [
        (10, 0, 11),
        (10, 6, 5),
        (0, 0, 1),
    ])
    def test_more_than_is_available_is_refused(
        self, initial_stock: int, already_reserved: int, amount: int,
    ) -> None:
        stock = stock_with(*([reserve(OTHER_ORDER, already_reserved)] if already_reserved else []),
                           initial_stock=initial_stock)

        refused = then_rejected(stock, reserve(ORDER, amount), InsufficientStock)

        assert "COF-250" in str(refused.value)
        assert not stock.can_reserve(amount)

    @pytest.mark.parametrize("amount", [0, -1])
    def test_an_invalid_amount_is_refused(self, amount: int) -> None:
        then_rejected(stock_with(), reserve(ORDER, amount), InvalidValue)

    def test_a_rejection_records_what_was_wanted_and_available(self) -> None:
        stock = stock_with(reserve(OTHER_ORDER, 8))

        assert facts(when(stock, lambda s: s.reject_reservation(ORDER, 5))) == [
            ("ReservationRejected", {"order_id": ORDER, "quantity": 5, "available": 2}),
        ]
        assert stock.reservations == {OTHER_ORDER: 8}


class TestReleasingAndCommitting:
    def test_release_gives_the_reservation_back(self) -> None:
        stock = stock_with(reserve(ORDER, 3))

        assert facts(when(stock, lambda s: s.release(ORDER))) == [
            ("Released", {"order_id": ORDER, "quantity": 3}),
        ]
        assert (stock.on_hand, stock.reserved, stock.available) == (10, 0, 10)

    def test_commit_takes_the_reserved_goods_off_hand(self) -> None:
        stock = stock_with(reserve(ORDER, 3), reserve(OTHER_ORDER, 2))

        assert facts(when(stock, lambda s: s.commit(ORDER))) == [
            ("Committed", {"order_id": ORDER, "quantity": 3}),
        ]
        assert (stock.on_hand, stock.reserved, stock.available) == (7, 2, 5)

    @pytest.mark.parametrize("command", [
        lambda s: s.release(ORDER),
        lambda s: s.commit(ORDER),
    ], ids=["release", "commit"])
    @pytest.mark.parametrize("settled", [
        (),
        (reserve(ORDER, 3), lambda s: s.release(ORDER)),
        (reserve(ORDER, 3), lambda s: s.commit(ORDER)),
        (reserve(OTHER_ORDER, 3),),
    ], ids=["never reserved", "already released", "already committed", "another order's"])
    def test_nothing_is_recorded_without_a_reservation_of_the_order(
        self, command: Command[Stock], settled: tuple[Command[Stock], ...],
    ) -> None:
        stock = stock_with(*settled)

        assert when(stock, command) == []

    def test_a_stock_holds_an_order_only_while_its_reservation_is_open(self) -> None:
        stock = stock_with(reserve(ORDER, 3), reserve(OTHER_ORDER, 2), reserve(THIRD_ORDER, 1))
        assert [stock.holds(order) for order in (ORDER, OTHER_ORDER, THIRD_ORDER)] == [True, True, True]

        stock.release(ORDER)
        stock.commit(OTHER_ORDER)

        assert [stock.holds(order) for order in (ORDER, OTHER_ORDER, THIRD_ORDER)] == [False, False, True]
        assert stock.reservations == {THIRD_ORDER: 1}  # its state keeps the open reservations only

    def test_shipping_everything_leaves_nothing_on_hand_and_nothing_more_can_be_reserved(self) -> None:
        stock = stock_with(reserve(ORDER, 10), lambda s: s.commit(ORDER))

        assert (stock.on_hand, stock.available) == (0, 0)
        then_rejected(stock, reserve(OTHER_ORDER, 1), InsufficientStock)

    def test_the_invariants_hold_whatever_the_commands(self) -> None:
        chance = random.Random(20240611)
        orders = [uuid4() for _ in range(6)]
        stock = stock_with(initial_stock=5)
        for _ in range(2000):
            order_id = chance.choice(orders)
            command: Command[Stock] = chance.choice([
                reserve(order_id, chance.randint(1, 8)),
                lambda s: s.release(order_id),  # noqa: B023 (run right away, inside this iteration)
                lambda s: s.commit(order_id),  # noqa: B023
                lambda s: s.restock(chance.randint(1, 3), "recount"),
            ])
            try:
                when(stock, command)
            except DomainError:
                assert stock.pending_events == []
            assert_invariants(stock)


class TestReserveOrder:
    @staticmethod
    def stocks(*amounts_on_hand: int) -> dict[UUID, Stock]:
        created = [stock_with(sku=f"SKU-{index}", initial_stock=amount)
                   for index, amount in enumerate(amounts_on_hand)]
        return {stock.id: stock for stock in created}

    @staticmethod
    def lines(stocks: dict[UUID, Stock], *quantities: int) -> list[OrderLine]:
        return [OrderLine(product_id, quantity, Decimal("1.00"))
                for product_id, quantity in zip(stocks, quantities, strict=True)]

    @staticmethod
    def new_events(stocks: dict[UUID, Stock]) -> dict[str, list[str]]:
        return {stock.sku: names(stock.collect_events()) for stock in stocks.values()}

    def test_every_line_is_reserved_when_all_can_be_had(self) -> None:
        stocks = self.stocks(5, 3, 1)

        assert reserve_order(stocks, ORDER, self.lines(stocks, 5, 2, 1)) is True

        assert self.new_events(stocks) == {
            "SKU-0": ["Reserved"], "SKU-1": ["Reserved"], "SKU-2": ["Reserved"],
        }
        assert [stock.reservations for stock in stocks.values()] == [{ORDER: 5}, {ORDER: 2}, {ORDER: 1}]

    def test_one_short_line_reserves_nothing_anywhere(self) -> None:
        stocks = self.stocks(5, 3, 1)

        assert reserve_order(stocks, ORDER, self.lines(stocks, 2, 4, 1)) is False

        assert self.new_events(stocks) == {"SKU-0": [], "SKU-1": ["ReservationRejected"], "SKU-2": []}
        assert all(stock.reserved == 0 for stock in stocks.values())

    def test_the_rejection_says_what_was_wanted_and_available(self) -> None:
        stocks = self.stocks(5, 3)
        short = list(stocks.values())[1]

        reserve_order(stocks, ORDER, self.lines(stocks, 1, 4))

        assert facts(short.collect_events()) == [
            ("ReservationRejected", {"order_id": ORDER, "quantity": 4, "available": 3}),
        ]

    def test_each_short_line_records_its_rejection(self) -> None:
        stocks = self.stocks(1, 3, 1)

        assert reserve_order(stocks, ORDER, self.lines(stocks, 2, 3, 2)) is False

        assert self.new_events(stocks) == {"SKU-0": ["ReservationRejected"], "SKU-1": [],
                                           "SKU-2": ["ReservationRejected"]}

    def test_a_discontinued_product_makes_the_order_short(self) -> None:
        stocks = self.stocks(5, 5)
        discontinued = list(stocks.values())[1]
        discontinued.discontinue()
        discontinued.collect_events()

        assert reserve_order(stocks, ORDER, self.lines(stocks, 1, 1)) is False

        assert self.new_events(stocks) == {"SKU-0": [], "SKU-1": ["ReservationRejected"]}

    def test_an_unknown_product_makes_the_order_short_and_nothing_is_recorded(self) -> None:
        stocks = self.stocks(5)
        lines = [*self.lines(stocks, 1), OrderLine(uuid4(), 1, Decimal("1.00"))]

        assert reserve_order(stocks, ORDER, lines) is False

        assert self.new_events(stocks) == {"SKU-0": []}

    def test_reserving_the_same_order_again_keeps_it_reserved_and_records_nothing(self) -> None:
        stocks = self.stocks(5, 3)
        lines = self.lines(stocks, 4, 3)
        assert reserve_order(stocks, ORDER, lines) is True
        self.new_events(stocks)

        assert reserve_order(stocks, ORDER, lines) is True

        assert self.new_events(stocks) == {"SKU-0": [], "SKU-1": []}
        assert [stock.reservations for stock in stocks.values()] == [{ORDER: 4}, {ORDER: 3}]

    def test_other_orders_reservations_count_against_availability(self) -> None:
        stocks = self.stocks(5, 5)
        assert reserve_order(stocks, OTHER_ORDER, self.lines(stocks, 3, 3)) is True
        self.new_events(stocks)

        assert reserve_order(stocks, ORDER, self.lines(stocks, 2, 3)) is False

        assert self.new_events(stocks) == {"SKU-0": [], "SKU-1": ["ReservationRejected"]}
        for stock in stocks.values():
            assert_invariants(stock)


class TestReplay:
    def test_the_events_alone_rebuild_the_live_stock(self) -> None:
        live = new_stock()
        events: list[Event] = history(
            live, reserve(ORDER, 3), reserve(OTHER_ORDER, 2), lambda s: s.commit(ORDER),
            lambda s: s.restock(4, "recount"), lambda s: s.update(price="11.00"),
            lambda s: s.release(OTHER_ORDER),
            Stock.discontinue,
        )

        assert given(*events, kind=Stock) == live
