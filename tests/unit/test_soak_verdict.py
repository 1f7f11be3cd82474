"""The soak's verdict rules (scripts/soak_verdict.py) on made-up samples."""

from scripts.soak_sampler import PlatformSample, ProcessSample, Sample
from scripts.soak_verdict import judge, rise, warm_up_s

MIB = 2**20


def _sample(elapsed_s: float, rss_mib: float, lag_s: float = 0.5, alive: bool = True) -> Sample:
    return Sample(elapsed_s=elapsed_s,
                  processes=[ProcessSample("worker", 1, alive, int(rss_mib * MIB), 10, 5),
                             ProcessSample("projector", 2, True, 50 * MIB, 10, 5)],
                  platform=PlatformSample(lag_s=lag_s, lag_events=0, relay_unsent=0, relay_oldest_unsent_s=0.0),
                  push_frames=1, push_p50_ms=10.0, push_p99_ms=20.0, placed=0, received=0)


def test_warm_up_is_a_fifth_of_the_run_or_a_minute_whichever_is_shorter() -> None:
    assert warm_up_s(30) == 6
    assert warm_up_s(600) == 60


def test_memory_grown_during_warm_up_does_not_count_but_growth_after_it_fails() -> None:
    # Warm-up of a 600 s run ends at 60 s: the baseline is the sample at 60 s.
    steady = [_sample(t, 40 if t < 60 else 100 + t / 600) for t in range(10, 601, 10)]
    assert judge(steady, 600).passed

    leaking = [_sample(t, 100 + 20 * t / 600) for t in range(10, 601, 10)]
    verdict = judge(leaking, 600)
    assert not verdict.passed
    assert any("worker memory grew" in failure for failure in verdict.failures)


def test_lag_above_the_limit_in_the_last_half_fails() -> None:
    samples = [_sample(t, 100, lag_s=45 if t == 500 else 1) for t in range(10, 601, 10)]
    assert any("lag reached 45.0 s" in failure for failure in judge(samples, 600).failures)
    early = [_sample(t, 100, lag_s=45 if t == 100 else 1) for t in range(10, 601, 10)]
    assert judge(early, 600).passed


def test_a_lag_that_keeps_rising_fails_even_below_the_limit() -> None:
    samples = [_sample(t, 100, lag_s=t / 25) for t in range(10, 601, 10)]  # 12 s at half time, 24 s at the end
    assert any("trends upward" in failure for failure in judge(samples, 600).failures)


def test_a_process_that_exited_fails_the_run() -> None:
    samples = [_sample(10, 100), _sample(20, 100, alive=False)]
    assert "worker exited during the run" in judge(samples, 30).failures


def test_rise_is_the_fitted_lines_rise_across_the_points() -> None:
    assert rise([(0, 0), (10, 5), (20, 10)]) == 10
    assert rise([(0, 3), (10, 3)]) is None
