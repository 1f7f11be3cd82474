"""The operators' dashboard figures, read from the orders and couriers read models.

Everything is computed in PostgreSQL over a recent window (orders placed in the last hour, the last 30
minutes minute by minute), so the page costs a few aggregate queries whatever the history's length. The
times come from each order's timeline: when it was placed, confirmed and delivered.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from psycopg import Connection
from psycopg.rows import DictRow

from queries.reading import Pool, reading

WINDOW_MINUTES: Final = 60
"""Durations and cancellations are over the orders placed this recently."""
RATE_MINUTES: Final = 30
"""The orders-per-minute chart's length."""

_STEP_AT: Final = """(SELECT min((entry ->> 'at')::timestamptz) FROM jsonb_array_elements(doc -> 'timeline') AS entry
                      WHERE entry ->> 'status' = %s)"""


@dataclass(frozen=True)
class Durations:
    """Seconds from placement to a step, over the orders that reached it in the window."""

    count: int
    p50_s: float | None
    p95_s: float | None


@dataclass(frozen=True)
class DashboardFigures:
    now: datetime
    orders_per_minute: list[tuple[datetime, int]]
    """One bin per minute, oldest first, the current (partial) minute last."""
    placed_last_5_min: int
    to_confirmed: Durations
    to_delivered: Durations
    waiting_for_courier: int
    oldest_wait_s: float | None
    couriers_registered: int
    couriers_on_duty: int
    couriers_busy: int
    cancellations: list[tuple[str, int]] = field(default_factory=list)
    """(reason, count) over the window, most frequent first."""
    placed_in_window: int = 0

    @property
    def rate_per_minute(self) -> float:
        return self.placed_last_5_min / 5


class DashboardQueries:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def figures(self) -> DashboardFigures:
        return reading(self._pool, self._figures)

    def _figures(self, connection: Connection[DictRow]) -> DashboardFigures:
        now_row = connection.execute("SELECT now() AS now").fetchone()
        assert now_row is not None
        now: datetime = now_row["now"]
        bins = connection.execute(
            "SELECT minute, count(o.id) AS placed FROM generate_series("
            "  date_trunc('minute', %(now)s::timestamptz) - make_interval(mins => %(span)s - 1),"
            "  date_trunc('minute', %(now)s::timestamptz), interval '1 minute') AS minute "
            "LEFT JOIN read.orders o ON o.placed_at >= minute AND o.placed_at < minute + interval '1 minute' "
            "GROUP BY minute ORDER BY minute", {"now": now, "span": RATE_MINUTES}).fetchall()
        recent = connection.execute(
            "SELECT count(*) AS n FROM read.orders WHERE placed_at >= %s::timestamptz - interval '5 minutes'",
            (now,)).fetchone()
        durations = connection.execute(
            f"WITH windowed AS (SELECT placed_at, {_STEP_AT} AS confirmed_at, {_STEP_AT} AS delivered_at "
            "  FROM read.orders WHERE placed_at >= %s::timestamptz - make_interval(mins => %s)) "
            "SELECT count(*) AS placed, "
            "  count(confirmed_at) AS confirmed, "
            "  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM confirmed_at - placed_at)) "
            "    AS confirmed_p50, "
            "  percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM confirmed_at - placed_at)) "
            "    AS confirmed_p95, "
            "  count(delivered_at) AS delivered, "
            "  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - placed_at)) "
            "    AS delivered_p50, "
            "  percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - placed_at)) "
            "    AS delivered_p95 "
            "FROM windowed", ("CONFIRMED", "DELIVERED", now, WINDOW_MINUTES)).fetchone()
        # A confirmed order whose courier is on the way to pick it up waits no longer.
        waiting = connection.execute(
            f"SELECT count(*) AS n, extract(epoch FROM %s::timestamptz - min({_STEP_AT})) AS oldest "
            "FROM read.orders WHERE status = 'CONFIRMED' "
            "AND coalesce(doc -> 'shipment' ->> 'status', '') <> 'ASSIGNED'", (now, "CONFIRMED")).fetchone()
        # Documents from before shifts have no `on_duty`: those couriers were always on duty.
        couriers = connection.execute(
            "SELECT count(*) AS registered, count(*) FILTER (WHERE status = 'BUSY') AS busy, "
            "  count(*) FILTER (WHERE coalesce((doc ->> 'on_duty')::boolean, true)) AS on_duty "
            "FROM read.couriers").fetchone()
        cancelled = connection.execute(
            "SELECT coalesce(doc ->> 'cancel_reason', 'UNKNOWN') AS reason, count(*) AS n FROM read.orders "
            "WHERE status = 'CANCELLED' AND placed_at >= %s::timestamptz - make_interval(mins => %s) "
            "GROUP BY 1 ORDER BY 2 DESC, 1", (now, WINDOW_MINUTES)).fetchall()
        if recent is None or durations is None or waiting is None or couriers is None:
            raise RuntimeError("an aggregate query returned no row")
        return DashboardFigures(
            now=now,
            orders_per_minute=[(row["minute"], int(row["placed"])) for row in bins],
            placed_last_5_min=int(recent["n"]),
            to_confirmed=_durations(durations, "confirmed"),
            to_delivered=_durations(durations, "delivered"),
            waiting_for_courier=int(waiting["n"]),
            oldest_wait_s=float(waiting["oldest"]) if waiting["oldest"] is not None else None,
            couriers_registered=int(couriers["registered"]),
            couriers_on_duty=int(couriers["on_duty"]),
            couriers_busy=int(couriers["busy"]),
            cancellations=[(str(row["reason"]), int(row["n"])) for row in cancelled],
            placed_in_window=int(durations["placed"]),
        )


def _durations(row: dict[str, Any], step: str) -> Durations:
    p50, p95 = row[f"{step}_p50"], row[f"{step}_p95"]
    return Durations(int(row[step]), float(p50) if p50 is not None else None,
                     float(p95) if p95 is not None else None)
