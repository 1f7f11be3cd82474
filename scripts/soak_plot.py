"""A soak's samples as a CSV (one row per sample and process) and as a PNG of six panels over time."""

import csv
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")  # files only: no display, and no GUI toolkit to find

import matplotlib.pyplot as plt

from scripts.soak_sampler import ProcessSample, Sample

COLUMNS: Final = ("elapsed_s", "process", "pid", "alive", "rss_mib", "open_fds", "pg_connections", "cpu_s", "lag_s",
                  "lag_events", "relay_unsent", "relay_oldest_unsent_s", "push_frames", "push_p50_ms",
                  "push_p99_ms", "placed", "received")
MIB: Final = 2**20


def write_csv(samples: list[Sample], path: Path) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for sample in samples:
            platform = sample.platform
            for process in sample.processes:
                writer.writerow([
                    f"{sample.elapsed_s:.1f}", process.name, process.pid, int(process.alive),
                    f"{process.rss_bytes / MIB:.1f}", process.open_fds, process.pg_connections, f"{process.cpu_s:.1f}",
                    f"{platform.lag_s:.2f}", platform.lag_events, platform.relay_unsent,
                    f"{platform.relay_oldest_unsent_s:.2f}", sample.push_frames, f"{sample.push_p50_ms:.1f}",
                    f"{sample.push_p99_ms:.1f}", sample.placed, sample.received])


def plot(samples: list[Sample], path: Path, title: str, warm_up_s: float) -> None:
    minutes = [sample.elapsed_s / 60 for sample in samples]
    names = [process.name for process in samples[0].processes] if samples else []
    figure, axes = plt.subplots(3, 2, figsize=(13, 11), sharex=True)
    per_process: tuple[tuple[str, Callable[[ProcessSample], float]], ...] = (
        ("resident memory (MiB)", lambda p: p.rss_bytes / MIB), ("open file descriptors", lambda p: p.open_fds),
        ("PostgreSQL connections", lambda p: p.pg_connections))
    for axis, (label, value) in zip((axes[0][0], axes[0][1], axes[1][0]), per_process, strict=True):
        for name in names:
            axis.plot(minutes, [value(next(p for p in s.processes if p.name == name)) for s in samples],
                      marker=".", label=name)
        axis.set_ylabel(label)
        axis.legend(fontsize="small")
    lag = axes[1][1]
    lag.plot(minutes, [s.platform.lag_s for s in samples], marker=".", label="lag (worst follower or relay)")
    lag.plot(minutes, [s.platform.relay_oldest_unsent_s for s in samples], marker=".",
             label="relay oldest unsent")
    lag.set_ylabel("seconds")
    lag.legend(fontsize="small")
    push = axes[2][0]
    push.plot(minutes, [s.push_p50_ms for s in samples], marker=".", label="p50")
    push.plot(minutes, [s.push_p99_ms for s in samples], marker=".", label="p99")
    push.set_ylabel("push latency, answer -> frame (ms)")
    push.legend(fontsize="small")
    rates = axes[2][1]
    previous = [(0.0, 0, 0), *((s.elapsed_s, s.placed, s.received) for s in samples)]
    for index, label in ((1, "placed"), (2, "received")):
        rates.plot(minutes, [(now[index] - before[index]) / max(now[0] - before[0], 1e-9)
                             for before, now in pairwise(previous)], marker=".", label=label)
    rates.set_ylabel("orders/s in the interval")
    rates.legend(fontsize="small")
    for row in axes:
        for axis in row:
            axis.axvline(warm_up_s / 60, color="grey", linestyle=":", linewidth=1)
            axis.set_xlim(left=0)
            axis.set_ylim(bottom=0)
            axis.grid(alpha=0.3)
    for axis in axes[2]:
        axis.set_xlabel("minutes (dotted: end of warm-up)")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
