"""The status page's one rule for a follower's position and lag: the two always agree with each other."""

import pytest

from queries.platform_status import Pending, follower_lag


def test_a_follower_with_nothing_to_do_is_at_the_head_even_when_it_skipped_the_last_events() -> None:
    # A saga step with a topic filter processed 1827 and has nothing of interest up to the head, 1830.
    assert follower_lag(1827, 1830, Pending(count=0, first=None)) == (1830, 0)


def test_a_follower_that_has_events_to_process_stands_just_before_the_first_of_them() -> None:
    # It skipped 1828 and 1829 (not its topics); 1830 is its next.
    assert follower_lag(1827, 1830, Pending(count=1, first=1830)) == (1829, 1)


def test_an_unfiltered_follower_behind_by_two() -> None:
    assert follower_lag(14743, 14745, Pending(count=2, first=14744)) == (14743, 2)


def test_a_position_read_past_the_head_is_never_shown_past_it() -> None:
    assert follower_lag(2206, 2205, Pending(count=0, first=None)) == (2205, 0)


@pytest.mark.parametrize(("tracked", "head", "pending"), [
    (0, 0, Pending(0, None)), (0, 5, Pending(5, 1)), (3, 5, Pending(1, 5)), (5, 5, Pending(0, None)),
    (2, 9, Pending(3, 4)),
])
def test_position_is_the_head_exactly_when_nothing_is_behind(tracked: int, head: int, pending: Pending) -> None:
    position, behind = follower_lag(tracked, head, pending)
    assert (position == head) == (behind == 0)
    assert tracked <= position <= head or tracked > head
