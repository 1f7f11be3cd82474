"""Value objects and their validation (GeoPoint, money, quantity, non_blank, OrderLine), and the base."""

import math
from decimal import Decimal
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from domain.base import correlation_id_var, message_context, stable_id
from domain.errors import InvalidValue
from domain.values import MAX_AMOUNT, MAX_QUANTITY, GeoPoint, OrderLine, money, non_blank, optional_text, quantity

MONAS = GeoPoint(-6.1754, 106.8272)
BUNDARAN_HI = GeoPoint(-6.1950, 106.8230)


class TestGeoPoint:
    def test_monas_to_bundaran_hi_is_about_two_kilometres(self) -> None:
        assert MONAS.distance_km(BUNDARAN_HI) == pytest.approx(2.2, abs=0.2)

    def test_distance_is_symmetric_and_zero_to_itself(self) -> None:
        assert MONAS.distance_km(BUNDARAN_HI) == pytest.approx(BUNDARAN_HI.distance_km(MONAS))
        assert MONAS.distance_km(MONAS) == 0.0

    @pytest.mark.parametrize(("a", "b", "km"), [
        (GeoPoint(0, 0), GeoPoint(1, 0), 111.195),
        (GeoPoint(0, 0), GeoPoint(0, 1), 111.195),
        (GeoPoint(60, 10), GeoPoint(60, 11), 55.597),
        (GeoPoint(0, 179.5), GeoPoint(0, -179.5), 111.195),
        (GeoPoint(0, 0), GeoPoint(0, 180), math.pi * 6371.0088),
        (GeoPoint(90, 0), GeoPoint(-90, 0), math.pi * 6371.0088),
        (GeoPoint(-6.2088, 106.8456), GeoPoint(1.3521, 103.8198), 905.4),
    ], ids=["1° of latitude", "1° of longitude on the equator", "1° of longitude at 60°N",
            "across the antimeridian", "half way round", "pole to pole", "Jakarta to Singapore"])
    def test_great_circle_distances(self, a: GeoPoint, b: GeoPoint, km: float) -> None:
        assert a.distance_km(b) == pytest.approx(km, rel=1e-3)

    @pytest.mark.parametrize(("lat", "lng"), [(90, 180), (-90, -180), (0, 0), (-6.1754, 106.8272)])
    def test_of_accepts_coordinates_in_range_as_floats(self, lat: float, lng: float) -> None:
        point = GeoPoint.of(lat, lng)

        assert point == GeoPoint(float(lat), float(lng))
        assert isinstance(point.lat, float)
        assert isinstance(point.lng, float)

    @pytest.mark.parametrize(("lat", "lng", "field"), [
        (90.000001, 0, "where.lat"),
        (-90.5, 0, "where.lat"),
        (math.nan, 0, "where.lat"),
        (math.inf, 0, "where.lat"),
        (0, 180.000001, "where.lng"),
        (0, -181, "where.lng"),
        (0, math.nan, "where.lng"),
        (0, -math.inf, "where.lng"),
        (cast(Any, "1.0"), 0, "where.lat"),
        (0, cast(Any, None), "where.lng"),
        (cast(Any, True), 0, "where.lat"),
    ])
    def test_of_refuses_out_of_range_naming_the_field(self, lat: float, lng: float, field: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            GeoPoint.of(lat, lng, "where")

        assert refused.value.field == field


class TestMoney:
    @pytest.mark.parametrize(("value", "amount"), [
        ("12.50", Decimal("12.50")),
        ("0.01", Decimal("0.01")),
        ("7.5", Decimal("7.5")),
        (3, Decimal(3)),
        (Decimal("99.99"), Decimal("99.99")),
        ("1000000000.00", MAX_AMOUNT),
    ])
    def test_positive_with_at_most_two_decimals(self, value: Decimal | str | int, amount: Decimal) -> None:
        assert money(value) == amount

    @pytest.mark.parametrize("value", [
        "0", "0.00", "-0.01", "-5", 0, -1, "abc", "", "12,50", "1.001", "0.001",
        "NaN", "sNaN", "Infinity", "-Infinity",
        cast(Any, None), cast(Any, [1]), cast(Any, 12.5), cast(Any, True),
        # Not plain decimals: an exponent, padding, a separator, other scripts' digits, a leading zero.
        "1E+999999", "1e2", "1E+2", " 1.00", "7.5 ", "1_000.00", "\u0663.\u0660\u0660", "012", "+5",
        # Beyond the largest amount taken.
        "1000000000.01", "9999999999", Decimal("1E+999999"), Decimal("1000000001"),
    ])
    def test_anything_else_is_refused_naming_the_field(self, value: Decimal | str | int) -> None:
        with pytest.raises(InvalidValue) as refused:
            money(value, "items[0].unit_price")

        assert refused.value.field == "items[0].unit_price"

    def test_the_default_field_is_price(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            money("-1")

        assert refused.value.field == "price"


class TestQuantity:
    @pytest.mark.parametrize("value", [1, 2, MAX_QUANTITY])
    def test_whole_numbers_in_range(self, value: int) -> None:
        assert quantity(value) == value

    def test_the_minimum_can_be_lowered_to_zero(self) -> None:
        assert quantity(0, "initial_stock", minimum=0) == 0

    @pytest.mark.parametrize("value", [0, -1, MAX_QUANTITY + 1, True, False, cast(Any, 1.0), cast(Any, "3"),
                                       cast(Any, None)])
    def test_anything_else_is_refused_naming_the_field(self, value: int) -> None:
        with pytest.raises(InvalidValue) as refused:
            quantity(value, "items[2].quantity")

        assert refused.value.field == "items[2].quantity"

    def test_below_a_lowered_minimum_is_refused(self) -> None:
        with pytest.raises(InvalidValue):
            quantity(-1, "initial_stock", minimum=0)


class TestNonBlank:
    def test_trims(self) -> None:
        assert non_blank("  Budi \n", "name") == "Budi"

    def test_up_to_the_maximum_length(self) -> None:
        assert non_blank("x" * 10, "name", max_length=10) == "x" * 10

    @pytest.mark.parametrize("value", ["", "  ", "\t", "x" * 11, cast(Any, None), cast(Any, 5)])
    def test_blank_overlong_or_not_text_is_refused(self, value: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            non_blank(value, "name", max_length=10)

        assert refused.value.field == "name"
        assert str(refused.value).startswith("name: ")

    @pytest.mark.parametrize("value", ["Jl. Jaksa \x00 5", "a\x1bb", "a\x7fb", "a\x85b", "a\ud800b", "a\tb"])
    def test_control_characters_inside_are_refused(self, value: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            non_blank(value, "delivery.address")

        assert refused.value.field == "delivery.address"
        assert "control characters" in refused.value.message


class TestOptionalText:
    @pytest.mark.parametrize(("value", "text"), [(None, None), ("", None), ("  ", None), (" late \n", "late")])
    def test_blank_is_none_and_text_is_trimmed(self, value: str | None, text: str | None) -> None:
        assert optional_text(value, "reason") == text

    @pytest.mark.parametrize("value", ["x" * 501, "a\x00b", cast(Any, 3)])
    def test_overlong_control_characters_or_not_text_are_refused(self, value: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            optional_text(value, "reason")

        assert refused.value.field == "reason"


def test_an_order_line_subtotal_is_price_times_quantity() -> None:
    assert OrderLine(uuid4(), 3, Decimal("19.99")).subtotal == Decimal("59.97")


class TestBase:
    def test_stable_ids_depend_on_kind_and_key_only(self) -> None:
        assert stable_id("product", "COF-250") == stable_id("product", "COF-250")
        assert stable_id("product", "COF-250") != stable_id("product", "COF-500")
        assert stable_id("product", "X") != stable_id("payment", "X")
        assert isinstance(stable_id("product", "X"), UUID)

    def test_the_message_context_sets_and_restores_the_correlation_id(self) -> None:
        assert correlation_id_var.get() is None
        with message_context("outer", "a"):
            assert correlation_id_var.get() == "outer"
            with message_context("inner", "b"):
                assert correlation_id_var.get() == "inner"
            assert correlation_id_var.get() == "outer"
        assert correlation_id_var.get() is None

    def test_the_message_context_is_restored_after_an_error(self) -> None:
        with pytest.raises(RuntimeError), message_context("x", "y"):
            raise RuntimeError
        assert correlation_id_var.get() is None
