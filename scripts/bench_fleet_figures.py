"""The arithmetic of `logistics bench fleet`: which frame answers which report, percentiles, and rates per minute.

Pure: nothing here talks to a process or a database, so every figure the bench prints can be tested alone.
A report is named by its courier and its `at` (the courier sends `at` explicitly, one point per moment), and a
push frame carries both back; so a frame is matched to the report it shows by that pair, within a millisecond
in case the platform stores `at` with less precision than the courier sent it.
"""

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from scripts.bench_push import percentile

ReportKey = tuple[str, int]
"""(courier id, the report's `at` in microseconds since the epoch)."""

MATCH_TOLERANCE_US: Final = 1000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def at_micros(text: str) -> int:
    """An RFC 3339 moment as whole microseconds since the epoch (without an offset: UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def rfc3339(wall: float) -> tuple[str, int]:
    """A wall-clock instant as the RFC 3339 text a report carries, and the microseconds that text says."""
    moment = datetime.fromtimestamp(wall, UTC)
    return moment.isoformat(timespec="microseconds"), (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class FrameSeen:
    """One courier position in a push frame, and when the frame reached the bench (wall clock, seconds)."""

    courier_id: str
    at_us: int
    arrived: float


@dataclass(frozen=True)
class Window:
    """A stretch of wall-clock time in which every report of `courier_id` should have come back as a frame."""

    courier_id: str
    start: float
    end: float


@dataclass
class _CourierReports:
    ats: list[int] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)


class ReportLedger:
    """Every position report the platform accepted: its courier, its `at`, and when its request went out."""

    def __init__(self) -> None:
        self._couriers: dict[str, _CourierReports] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def accepted(self, courier_id: str, at_us: int, sent: float) -> None:
        reports = self._couriers.setdefault(courier_id, _CourierReports())
        index = bisect.bisect_left(reports.ats, at_us)
        if index < len(reports.ats) and reports.ats[index] == at_us:
            return  # the same moment twice: the platform keeps one of them too
        reports.ats.insert(index, at_us)
        reports.sent.insert(index, sent)
        self._count += 1

    def find(self, courier_id: str, at_us: int, tolerance_us: int = MATCH_TOLERANCE_US) -> ReportKey | None:
        """The report of this courier whose `at` is nearest to `at_us`, if one is within the tolerance."""
        reports = self._couriers.get(courier_id)
        if reports is None:
            return None
        index = bisect.bisect_left(reports.ats, at_us)
        nearest = [i for i in (index - 1, index) if 0 <= i < len(reports.ats)]
        best = min(nearest, key=lambda i: abs(reports.ats[i] - at_us), default=None)
        if best is None or abs(reports.ats[best] - at_us) > tolerance_us:
            return None
        return courier_id, reports.ats[best]

    def sent_at(self, key: ReportKey) -> float:
        reports = self._couriers[key[0]]
        return reports.sent[bisect.bisect_left(reports.ats, key[1])]

    def couriers(self) -> list[str]:
        return list(self._couriers)

    def sent_within(self, window: Window) -> Iterable[ReportKey]:
        reports = self._couriers.get(window.courier_id)
        if reports is None:
            return
        for at_us, sent in zip(reports.ats, reports.sent, strict=True):
            if window.start <= sent <= window.end:
                yield window.courier_id, at_us


@dataclass(frozen=True)
class Matching:
    latencies_ms: list[float]
    """Per report that came back: its frame's arrival - its request's send, the first frame if several."""
    matched: frozenset[ReportKey]
    unmatched_frames: int
    """Positions in frames that answer no accepted report (another run's, or a clock far off)."""


def match_frames(ledger: ReportLedger, frames: Iterable[FrameSeen]) -> Matching:
    first: dict[ReportKey, float] = {}
    unmatched = 0
    for frame in frames:
        key = ledger.find(frame.courier_id, frame.at_us)
        if key is None:
            unmatched += 1
        elif key not in first or frame.arrived < first[key]:
            first[key] = frame.arrived
    latencies = [(arrived - ledger.sent_at(key)) * 1000 for key, arrived in first.items()]
    return Matching(latencies, frozenset(first), unmatched)


def missing_reports(ledger: ReportLedger, windows: Iterable[Window], matched: frozenset[ReportKey]) -> int:
    """Reports sent while a socket was watching their courier that never came back on it."""
    expected = {key for window in windows for key in ledger.sent_within(window)}
    return len(expected - matched)


@dataclass(frozen=True)
class LatencySummary:
    frames: int
    """Reports that came back as a frame."""
    missing: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def summarise(latencies_ms: list[float], missing: int) -> LatencySummary:
    def at(p: float) -> float | None:
        value = percentile(latencies_ms, p)
        return None if math.isnan(value) else value

    return LatencySummary(len(latencies_ms), missing, at(50), at(95), at(99))


def busy_seconds(intervals: Iterable[tuple[float, float | None]], run_start: float, run_end: float) -> float:
    """Courier-seconds spent on shipments within the run: one (start, end or None while still busy) per trip."""
    total = 0.0
    for start, end in intervals:
        clipped = min(run_end if end is None else end, run_end) - max(start, run_start)
        total += max(0.0, clipped)
    return total


def per_courier_minute(count: int, courier_seconds: float) -> float:
    """`count` over the courier-minutes it happened in; 0 when no courier was busy (nothing to divide)."""
    return count / (courier_seconds / 60.0) if courier_seconds > 0 else 0.0


CHECKPOINT_EVENTS: Final = frozenset({"Shipment.RouteCheckpoint", "Shipment.LocationUpdated"})


def event_name(topic: str) -> str:
    """`Shipment.RouteCheckpoint` from a stored topic such as `domain.shipping:Shipment.RouteCheckpoint`."""
    return topic.rsplit(":", 1)[-1]


def checkpoints_among(events_by_name: Mapping[str, int]) -> int:
    return sum(count for name, count in events_by_name.items() if name in CHECKPOINT_EVENTS)
