"""Prometheus metrics of the platform's own: what it recorded, decided, published and pushed.

HTTP request metrics come from Litestar's Prometheus plugin (see web/baseline.py). Lags and backlogs are read
from the database when scraped, so every process reports the same truth.
"""

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import PoolTimeout

if TYPE_CHECKING:
    from adapters.platform_status import StatusReader

EVENTS_APPENDED = Counter("logistics_events_appended_total", "Events recorded, by context", ["context"])
SAGA_OUTCOMES = Counter("logistics_saga_outcomes_total", "Orders reaching an outcome, by outcome and reason",
                        ["outcome", "reason"])
COMMANDS = Counter("logistics_commands_total", "Commands handled by the command API, by command and outcome",
                   ["command", "outcome"])
RELAY_PUBLISHED = Counter("logistics_relay_published_total", "Outbox messages confirmed by the broker")
PUSH_CONNECTIONS = Gauge("logistics_push_connections", "Open push connections, by kind", ["kind"])

OUTCOME_OF = {"Order.Confirmed": "confirmed", "Order.Cancelled": "cancelled", "Order.Received": "received",
              "Order.Delivered": "delivered"}


def count_recorded_events(context: str, events: Sequence[Any]) -> None:
    """An observer of every event an application records (the composition root hands it to each one)."""
    EVENTS_APPENDED.labels(context=context.lower()).inc(len(events))
    for event in events:
        outcome = OUTCOME_OF.get(type(event).__qualname__)
        if outcome is not None:
            SAGA_OUTCOMES.labels(outcome=outcome, reason=getattr(event, "reason", "") or "").inc()


def command_outcome(status_code: int) -> str:
    if status_code < 400:
        return "accepted"
    return "rejected" if status_code < 500 else "failed"


class PlatformStatusCollector(Collector):
    """Projection and saga lag, and the relay's backlog, read from the database at each scrape."""

    def __init__(self, status: "StatusReader") -> None:
        self.status = status

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering asks for the metric names; answering from here keeps registration free of database work.
        for name in ("logistics_projection_lag_events", "logistics_projection_lag_seconds", "logistics_relay_backlog",
                     "logistics_relay_oldest_unsent_seconds", "logistics_status_readable", "logistics_parked_events",
                     "logistics_parked_oldest_seconds"):
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        readable = GaugeMetricFamily("logistics_status_readable",
                                     "1 when the positions and backlogs could be read from the database at this scrape")
        try:
            status = self.status.read()
        except (psycopg.Error, PoolTimeout):
            # The database is down or out of connections: say so, and keep every other metric scrapeable.
            readable.add_metric([], 0)
            yield readable
            return
        readable.add_metric([], 1)
        yield readable
        lag_events = GaugeMetricFamily("logistics_projection_lag_events", "Events a follower has still to process",
                                       labels=["follower", "upstream"])
        lag_seconds = GaugeMetricFamily("logistics_projection_lag_seconds",
                                        "How far behind its upstream's head a follower is, in seconds",
                                        labels=["follower", "upstream"])
        for follower in status.followers:
            lag_events.add_metric([follower.follower, follower.upstream], follower.lag_events)
            if follower.lag_seconds is not None:
                lag_seconds.add_metric([follower.follower, follower.upstream], follower.lag_seconds)
        yield lag_events
        yield lag_seconds
        yield GaugeMetricFamily("logistics_relay_backlog", "Outbox messages not yet confirmed by the broker",
                                value=status.relay.unsent)
        yield GaugeMetricFamily("logistics_relay_oldest_unsent_seconds", "Age of the oldest unsent message",
                                value=status.relay.oldest_unsent_age_s or 0.0)
        parked = GaugeMetricFamily("logistics_parked_events", "Events a follower parked or holds behind them, "
                                   "waiting for an operator", labels=["follower", "status"])
        oldest = GaugeMetricFamily("logistics_parked_oldest_seconds", "Age of a follower's oldest parked event",
                                   labels=["follower"])
        for count in status.parked:
            parked.add_metric([count.follower, "parked"], count.parked)
            parked.add_metric([count.follower, "held"], count.held)
            oldest.add_metric([count.follower], count.oldest_age_s)
        yield parked
        yield oldest


_collector: PlatformStatusCollector | None = None


def install_platform_metrics(status: "StatusReader") -> None:
    """Register the database-backed collector once per process (several apps may share a process); it reads
    through the status reader given last, so a process that opens a platform again (tests do, one after the
    other) is never left scraping a closed one."""
    global _collector
    if _collector is None:
        _collector = PlatformStatusCollector(status)
        REGISTRY.register(_collector)
    else:
        _collector.status = status
