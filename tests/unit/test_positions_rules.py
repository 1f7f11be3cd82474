"""Which reported positions a courier's report keeps, and the arrival they predict."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidValue
from domain.positions import (
    FALLBACK_SPEED_MPS,
    MAX_POINTS,
    MIN_SPEED_MPS,
    LatestPosition,
    PositionReport,
    accept,
    eta,
    implied_speed_kmh,
)
from domain.values import GeoPoint

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
MONAS = GeoPoint(-6.1754, 106.8272)
BOGOR = GeoPoint(-6.5971, 106.8060)
STEP = 0.0001
"""About 11 m of latitude: a courier's step in a second (40 km/h)."""


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def walking(*seconds: float) -> list[PositionReport]:
    """Points north from Monas, one step per second of their time."""
    return [PositionReport(MONAS.lat + STEP * second, MONAS.lng, at(second)) for second in seconds]


def stored_at(second: float, speed_mps: float | None = None) -> LatestPosition:
    return LatestPosition(MONAS.lat + STEP * second, MONAS.lng, at(second), speed_mps)


def refused_field(reports: list[PositionReport], stored: LatestPosition | None = None) -> str:
    with pytest.raises(InvalidValue) as refused:
        accept(reports, stored, NOW)
    return refused.value.field


class TestAcceptance:
    def test_a_batch_with_duplicates_and_points_out_of_order_gives_a_sorted_track_and_the_newest_as_latest(
        self
    ) -> None:
        given = stored_at(-10)
        report = walking(-3, -1, -2, -1, -5, -2)

        accepted = accept(report, given, NOW)

        assert [point.at for point in accepted.track] == [at(-5), at(-3), at(-2), at(-1)]
        assert accepted.latest is not None
        assert (accepted.latest.lat, accepted.latest.at) == (MONAS.lat - STEP, at(-1))

    def test_of_two_points_with_one_time_the_first_sent_is_kept(self) -> None:
        first, second = PositionReport(MONAS.lat, MONAS.lng, NOW), PositionReport(MONAS.lat + STEP, MONAS.lng, NOW)

        accepted = accept([first, second], None, NOW)

        assert accepted.track == (first,)

    def test_points_older_than_the_stored_latest_join_the_track_but_leave_the_latest_alone(self) -> None:
        given = stored_at(0)

        accepted = accept(walking(-4, -3), given, NOW)

        assert [point.at for point in accepted.track] == [at(-4), at(-3)]
        assert accepted.latest is None

    def test_a_point_at_the_stored_latest_time_is_a_duplicate(self) -> None:
        accepted = accept(walking(0), stored_at(0), NOW)

        assert (accepted.track, accepted.latest) == ((), None)

    def test_a_point_far_in_the_future_is_refused_by_its_index(self) -> None:
        report = walking(-2, -1, 0)
        report.append(PositionReport(MONAS.lat, MONAS.lng, at(31)))

        assert refused_field(report) == "positions[3].at"

    def test_a_point_a_little_in_the_future_is_a_clock_running_ahead(self) -> None:
        accepted = accept(walking(29), None, NOW)

        assert accepted.latest is not None
        assert accepted.latest.at == at(29)

    def test_an_impossible_jump_within_the_report_is_refused_by_the_index_of_the_point_that_jumped(self) -> None:
        report = [*walking(0, 1, 2), PositionReport(BOGOR.lat, BOGOR.lng, at(3)), *walking(4)]

        assert refused_field(report) == "positions[3]"

    def test_the_jump_is_judged_in_time_order_not_in_the_order_sent(self) -> None:
        report = [*walking(5, 6), PositionReport(BOGOR.lat, BOGOR.lng, at(7)), *walking(1)]

        assert refused_field(report) == "positions[2]"

    def test_an_impossible_jump_from_the_stored_latest_is_refused(self) -> None:
        given = LatestPosition(BOGOR.lat, BOGOR.lng, at(-60))

        assert refused_field(walking(0), given) == "positions[0]"

    def test_a_long_way_over_a_long_time_is_believable(self) -> None:
        given = LatestPosition(BOGOR.lat, BOGOR.lng, at(-3600))  # 47 km in an hour

        assert accept(walking(0), given, NOW).latest is not None

    def test_gps_noise_between_two_fixes_a_moment_apart_is_no_jump(self) -> None:
        noisy = [PositionReport(MONAS.lat, MONAS.lng, at(0)), PositionReport(MONAS.lat + 0.0002, MONAS.lng, at(0.1))]

        assert len(accept(noisy, None, NOW).track) == 2

    @pytest.mark.parametrize(("report", "field"), [
        ([PositionReport(91, 0, NOW)], "positions[0].lat"),
        ([*walking(0), PositionReport(0, 181, NOW)], "positions[1].lng"),
        ([PositionReport(0, 0, datetime(2024, 5, 1, 8, 30))], "positions[0].at"),
        ([], "positions"),
        (walking(*[-second for second in range(MAX_POINTS + 1)]), "positions"),
    ])
    def test_a_point_that_can_never_be_valid_is_named(self, report: list[PositionReport], field: str) -> None:
        assert refused_field(report) == field

    def test_the_speed_follows_the_courier(self) -> None:
        accepted = accept(walking(*range(-120, 0)), None, NOW)

        assert accepted.latest is not None
        assert accepted.latest.speed_mps is not None
        assert accepted.latest.speed_mps == pytest.approx(STEP * 111_195, rel=0.01)

    def test_the_speed_of_a_first_point_is_not_known(self) -> None:
        accepted = accept(walking(0), None, NOW)

        assert accepted.latest is not None
        assert accepted.latest.speed_mps is None


class TestArrival:
    def test_the_eta_shrinks_as_the_courier_approaches(self) -> None:
        destination = GeoPoint(MONAS.lat + STEP * 600, MONAS.lng)
        stored: LatestPosition | None = None
        etas = []
        for second in range(0, 300, 30):
            accepted = accept(walking(*range(second, second + 30)), stored, at(second + 30))
            stored = accepted.latest
            assert stored is not None
            etas.append(eta(stored, destination, stored.speed_mps))

        assert etas == sorted(etas, reverse=True)
        # At its steady step a second, the last 301 steps take the road factor times 301 s.
        assert etas[-1] == pytest.approx(at(299 + 301 * 1.3), abs=timedelta(seconds=5))

    def test_without_a_measured_speed_the_eta_assumes_a_city_pace(self) -> None:
        here = PositionReport(MONAS.lat, MONAS.lng, NOW)
        there = GeoPoint(MONAS.lat + 0.01, MONAS.lng)

        arrival = eta(here, there, None)

        expected = MONAS.distance_km(there) * 1000 * 1.3 / FALLBACK_SPEED_MPS
        assert (arrival - NOW).total_seconds() == pytest.approx(expected)

    def test_a_standing_courier_still_arrives(self) -> None:
        here = PositionReport(MONAS.lat, MONAS.lng, NOW)

        arrival = eta(here, BOGOR, 0.0)

        assert (arrival - NOW).total_seconds() == pytest.approx(MONAS.distance_km(BOGOR) * 1000 * 1.3 / MIN_SPEED_MPS)


def test_the_implied_speed_leaves_gps_noise_out() -> None:
    near = GeoPoint(MONAS.lat + 0.0002, MONAS.lng)

    assert implied_speed_kmh(MONAS, NOW, near, at(0.01)) == 0.0
    assert implied_speed_kmh(MONAS, NOW, BOGOR, at(3600)) == pytest.approx(47.0 - 0.1, abs=0.5)
