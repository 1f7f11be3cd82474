"""Whether a soak passed: memory that stops growing after warm-up, and a lag that stays bounded.

The rules, on the samples taken every interval:

- Warm-up is the first 20 % of the run or its first minute, whichever is shorter. A process's baseline is its
  resident memory (RSS) at the first sample at or after the end of warm-up; its end is its RSS at the last
  sample. The soak fails if any process's end exceeds its baseline by more than 10 %.
- The lag (the worst follower's lag or the relay's oldest unsent message, see scripts/soak_sampler.py) is
  bounded when, over the last half of the run, its largest sample is at most 30 s and it shows no steady upward
  trend: the least-squares line through the last half's samples rises by at most 10 s across that half (judged
  only with at least 3 samples there).
- A process that exited during the run fails it too.
"""

from dataclasses import dataclass
from typing import Final

from scripts.soak_sampler import Sample

WARM_UP_SHARE: Final = 0.2
WARM_UP_MOST_S: Final = 60.0
MEMORY_GROWTH_LIMIT: Final = 0.10
LAG_LIMIT_S: Final = 30.0
LAG_RISE_LIMIT_S: Final = 10.0


def warm_up_s(duration_s: float) -> float:
    return min(WARM_UP_SHARE * duration_s, WARM_UP_MOST_S)


@dataclass(frozen=True)
class MemoryGrowth:
    process: str
    baseline_bytes: int
    end_bytes: int
    peak_bytes: int

    @property
    def growth(self) -> float:
        return self.end_bytes / self.baseline_bytes - 1 if self.baseline_bytes else 0.0


@dataclass(frozen=True)
class LagBound:
    max_s: float
    """Over the whole run."""
    max_last_half_s: float
    rise_last_half_s: float | None
    """The fitted line's rise across the last half; None with fewer than 3 samples there."""


@dataclass(frozen=True)
class Verdict:
    memory: list[MemoryGrowth]
    lag: LagBound
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def memory_growth(samples: list[Sample], duration_s: float) -> list[MemoryGrowth]:
    if not samples:
        return []
    after_warm_up = [sample for sample in samples if sample.elapsed_s >= warm_up_s(duration_s)] or samples[-1:]
    baseline, end = after_warm_up[0], samples[-1]
    growths = []
    for process in baseline.processes:
        rss = [p.rss_bytes for sample in samples for p in sample.processes if p.name == process.name and p.alive]
        ends = [p.rss_bytes for p in end.processes if p.name == process.name]
        growths.append(MemoryGrowth(process.name, process.rss_bytes, ends[0] if ends else 0, max(rss, default=0)))
    return growths


def rise(points: list[tuple[float, float]]) -> float | None:
    """The least-squares line's rise from the first point's x to the last's; None for fewer than 3 points."""
    if len(points) < 3:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return slope * (xs[-1] - xs[0])


def lag_bound(samples: list[Sample], duration_s: float) -> LagBound:
    last_half = [(sample.elapsed_s, sample.platform.lag_s) for sample in samples
                 if sample.elapsed_s >= duration_s / 2]
    return LagBound(max_s=max((sample.platform.lag_s for sample in samples), default=0.0),
                    max_last_half_s=max((lag for _, lag in last_half), default=0.0),
                    rise_last_half_s=rise(last_half))


def judge(samples: list[Sample], duration_s: float) -> Verdict:
    failures = []
    memory = memory_growth(samples, duration_s)
    for growth in memory:
        if growth.growth > MEMORY_GROWTH_LIMIT:
            failures.append(f"{growth.process} memory grew {growth.growth:.1%} after warm-up "
                            f"({growth.baseline_bytes / 2**20:.0f} -> {growth.end_bytes / 2**20:.0f} MiB), "
                            f"more than {MEMORY_GROWTH_LIMIT:.0%}")
    dead = sorted({p.name for sample in samples for p in sample.processes if not p.alive})
    failures.extend(f"{name} exited during the run" for name in dead)
    lag = lag_bound(samples, duration_s)
    if lag.max_last_half_s > LAG_LIMIT_S:
        failures.append(f"lag reached {lag.max_last_half_s:.1f} s in the last half, above {LAG_LIMIT_S:g} s")
    if lag.rise_last_half_s is not None and lag.rise_last_half_s > LAG_RISE_LIMIT_S:
        failures.append(f"lag trends upward: it rose {lag.rise_last_half_s:.1f} s across the last half "
                        f"(fitted line), more than {LAG_RISE_LIMIT_S:g} s")
    if not samples:
        failures.append("no samples were taken")
    return Verdict(memory, lag, failures)
