"""The fleet bench's arithmetic (scripts/bench_fleet_figures.py, its report and frame parsing) on made-up runs."""

from collections import Counter

import pytest

from scripts.bench_fleet_couriers import LoadTally
from scripts.bench_fleet_figures import (
    FrameSeen,
    ReportLedger,
    Window,
    at_micros,
    busy_seconds,
    checkpoints_among,
    event_name,
    match_frames,
    missing_reports,
    per_courier_minute,
    rfc3339,
    summarise,
)
from scripts.bench_fleet_load import FleetConfig
from scripts.bench_fleet_report import FleetResult, result_json
from scripts.bench_fleet_sockets import fleet_subscription, is_fleet_acknowledgement, positions_in

T0 = 1_700_000_000.0
"""A wall-clock instant (2023-11-14): the ledger's sent times are seconds like time.time()'s."""
T0_US = 1_700_000_000_000_000


def test_percentiles_of_no_figures_are_absent_and_of_one_figure_are_that_figure() -> None:
    assert summarise([], missing=3) == summarise([], 3)
    empty = summarise([], 3)
    assert (empty.frames, empty.missing, empty.p50_ms, empty.p95_ms, empty.p99_ms) == (0, 3, None, None, None)
    single = summarise([42.0], 0)
    assert (single.p50_ms, single.p95_ms, single.p99_ms) == (42.0, 42.0, 42.0)


def test_percentiles_are_nearest_rank_whatever_the_order_of_the_figures() -> None:
    figures = [float(value) for value in range(100, 0, -1)]  # 100 .. 1, reversed on purpose
    summary = summarise(figures, 0)
    assert summary.frames == 100
    assert summary.p50_ms in (50.0, 51.0)  # the middle of an even count: either neighbour is the median
    assert summary.p95_ms == 95.0
    assert summary.p99_ms == 99.0


def test_an_at_reads_the_same_with_z_with_an_offset_and_as_the_courier_wrote_it() -> None:
    text, micros = rfc3339(T0 + 0.123456)
    assert at_micros(text) == micros == T0_US + 123_456
    assert at_micros("2023-11-14T22:13:20.123456Z") == T0_US + 123_456
    assert at_micros("2023-11-14T22:13:20.123456+00:00") == T0_US + 123_456
    assert at_micros("2023-11-15T05:13:20.123456+07:00") == T0_US + 123_456
    assert at_micros("2023-11-14T22:13:20.123") == T0_US + 123_000  # no offset: UTC, milliseconds only


def _ledger(*reports: tuple[str, int, float]) -> ReportLedger:
    ledger = ReportLedger()
    for courier, at_us, sent in reports:
        ledger.accepted(courier, at_us, sent)
    return ledger


def test_a_frame_finds_its_report_by_courier_and_at_even_with_the_at_rounded_to_the_millisecond() -> None:
    ledger = _ledger(("a", T0_US + 123_456, T0), ("a", T0_US + 1_123_456, T0 + 1), ("b", T0_US + 123_456, T0))
    assert ledger.find("a", T0_US + 123_456) == ("a", T0_US + 123_456)
    assert ledger.find("a", T0_US + 123_000) == ("a", T0_US + 123_456)  # stored with milliseconds only
    assert ledger.find("a", T0_US + 1_123_000) == ("a", T0_US + 1_123_456)
    assert ledger.find("a", T0_US + 500_000) is None  # between two reports, near neither
    assert ledger.find("c", T0_US + 123_456) is None
    assert len(ledger) == 3


def test_the_same_moment_accepted_twice_is_one_report() -> None:
    ledger = _ledger(("a", T0_US, T0), ("a", T0_US, T0 + 1))
    assert len(ledger) == 1
    assert ledger.sent_at(("a", T0_US)) == T0


def test_latency_is_the_first_frame_of_a_report_after_its_request_went_out() -> None:
    ledger = _ledger(("a", T0_US, T0), ("a", T0_US + 1_000_000, T0 + 1.5), ("b", T0_US, T0))
    frames = [FrameSeen("a", T0_US, T0 + 0.120), FrameSeen("a", T0_US, T0 + 0.080),  # two frames, first counts
              FrameSeen("a", T0_US + 1_000_000, T0 + 1.75), FrameSeen("z", T0_US, T0 + 0.1)]
    matching = match_frames(ledger, frames)
    assert sorted(matching.latencies_ms) == pytest.approx([80.0, 250.0], abs=0.001)  # wall clocks: float seconds
    assert matching.matched == {("a", T0_US), ("a", T0_US + 1_000_000)}
    assert matching.unmatched_frames == 1


def test_missing_counts_reports_sent_while_watched_that_never_came_back() -> None:
    ledger = _ledger(("a", T0_US, T0), ("a", T0_US + 1_000_000, T0 + 1), ("a", T0_US + 2_000_000, T0 + 2),
                     ("b", T0_US, T0))
    matched = frozenset({("a", T0_US + 1_000_000)})
    # Watching a from 0.5 s to 2.5 s: its reports at 1 s and 2 s were due; the one at 2 s never came. b unwatched.
    assert missing_reports(ledger, [Window("a", T0 + 0.5, T0 + 2.5)], matched) == 1
    assert missing_reports(ledger, [], matched) == 0
    # Overlapping windows do not count a report twice.
    assert missing_reports(ledger, [Window("a", T0, T0 + 2), Window("a", T0 + 1, T0 + 3)], matched) == 2


def test_busy_time_is_clipped_to_the_run_and_an_unfinished_trip_runs_to_its_end() -> None:
    trips: list[tuple[float, float | None]] = [(10.0, 40.0), (50.0, None), (-5.0, 5.0), (200.0, 300.0)]
    # Run from 0 to 100: 30 s + 50 s (open, to the end) + 5 s (clipped at the start) + 0 (after the run).
    assert busy_seconds(trips, 0.0, 100.0) == 85.0
    assert busy_seconds([], 0.0, 100.0) == 0.0


def test_events_per_courier_minute() -> None:
    assert per_courier_minute(30, 15 * 60) == 2.0
    assert per_courier_minute(7, 30) == 14.0
    assert per_courier_minute(0, 60) == 0.0
    assert per_courier_minute(5, 0) == 0.0  # no courier was busy: nothing to divide by


def test_checkpoints_are_the_route_checkpoints_and_the_old_location_updates_of_shipments() -> None:
    assert event_name("domain.shipping:Shipment.RouteCheckpoint") == "Shipment.RouteCheckpoint"
    counts = {"Shipment.RouteCheckpoint": 4, "Shipment.LocationUpdated": 2, "Shipment.PickedUp": 1,
              "Courier.LocationUpdated": 9}
    assert checkpoints_among(counts) == 6


def test_positions_are_read_from_position_frames_and_fleet_frames_and_nothing_else() -> None:
    position = {"type": "position", "courier_id": "a", "order_id": "o", "lat": 1.0, "lng": 2.0,
                "at": "2023-11-14T22:13:20.5Z", "eta": None}
    assert positions_in(position) == [("a", "2023-11-14T22:13:20.5Z")]
    fleet = {"type": "fleet", "positions": [{"courier_id": "a", "at": "t1"}, {"courier_id": "b", "at": "t2"},
                                            {"courier_id": 3, "at": "t3"}, "junk"]}
    assert positions_in(fleet) == [("a", "t1"), ("b", "t2")]
    assert positions_in({"type": "view.order.snapshot", "data": {}}) == []
    assert positions_in(["not", "a", "frame"]) == []


def test_the_fleet_subscription_and_its_acknowledgement() -> None:
    assert fleet_subscription() == '{"subscribe": "fleet"}'
    assert is_fleet_acknowledgement({"type": "subscribed", "subscription": "fleet"})
    assert not is_fleet_acknowledgement({"type": "subscribed", "subscription": "*"})


def test_the_report_as_json_has_every_figure() -> None:
    tally = LoadTally(offered=600, accepted=590, refused=10, requests=595, placed=12, picked_up=8, delivered=2,
                      received=1, refusals=Counter({"location 422: positions[0].at": 10}))
    result = FleetResult(
        config=FleetConfig(couriers=10, hz=1.0, duration_s=60.0, orders_per_s=0.2, sample_orders=3),
        driving_s=60.0, tally=tally, confirmed=11, order_page=summarise([10.0, 20.0, 30.0], 1),
        fleet=summarise([300.0, 400.0], 0), unmatched_frames=0, courier_minutes=4.0,
        events_by_name={"Shipment.RouteCheckpoint": 8, "Shipment.PickedUp": 8, "Shipment.CourierAssigned": 8},
        cpu_s={("command-api", "process"): 3.0, ("command-api", "postgres"): 1.0, ("bench", "process"): 2.5})
    figures = result_json(result)
    assert figures["reports"]["offered_per_s"] == 10.0
    assert figures["reports"]["accepted_per_s"] == pytest.approx(590 / 60, abs=0.01)
    assert figures["latency_ms"]["order_page"] == {"frames": 3, "missing": 1, "p50": 20.0, "p95": 30.0, "p99": 30.0}
    assert figures["stored_events"]["per_courier_minute"] == 6.0
    assert figures["stored_events"]["checkpoints_per_courier_minute"] == 2.0
    assert figures["orders"] == {"placed": 12, "confirmed": 11, "picked_up": 8, "delivered": 2, "received": 1}
    assert list(figures["cpu_s"]) == ["command-api", "bench"]
    assert figures["cpu_s"]["command-api"] == {"process": 3.0, "postgres": 1.0}
    assert figures["refusals"] == {"location 422: positions[0].at": 10}
