"""The chaos runner's fault schedule: drawn from the seed, within the order window, every kind as often as asked."""

from collections import Counter

import pytest

from scripts.chaos_faults import FAULT_KINDS, fault_schedule, parse_fault_kinds


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    assert fault_schedule(FAULT_KINDS, 3, 250.0, 7) == fault_schedule(FAULT_KINDS, 3, 250.0, 7)
    assert fault_schedule(FAULT_KINDS, 3, 250.0, 7) != fault_schedule(FAULT_KINDS, 3, 250.0, 8)


def test_every_kind_comes_as_often_as_asked_in_time_order_within_the_window() -> None:
    schedule = fault_schedule(FAULT_KINDS, 3, 250.0, 1)

    assert Counter(fault.kind for fault in schedule) == dict.fromkeys(FAULT_KINDS, 3)
    assert [fault.at_s for fault in schedule] == sorted(fault.at_s for fault in schedule)
    assert all(0.05 * 250 <= fault.at_s <= 0.9 * 250 for fault in schedule)


def test_fault_kinds_are_named_on_the_command_line_and_an_unknown_one_is_refused() -> None:
    assert parse_fault_kinds("kill-worker, broker-pause") == ["kill-worker", "broker-pause"]
    with pytest.raises(ValueError, match="kill-everything"):
        parse_fault_kinds("kill-worker,kill-everything")
