"""What `logistics bench fleet` found, as one record: printed as tables, or as JSON for scripts and tests."""

import json
from dataclasses import dataclass, field
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from scripts.bench_fleet_couriers import LoadTally
from scripts.bench_fleet_figures import LatencySummary, checkpoints_among, per_courier_minute
from scripts.bench_fleet_load import FleetConfig

PROCESS_ORDER: Final = ("command-api", "worker", "projector", "query-api", "bench")
MOST_REFUSALS: Final = 10


@dataclass(frozen=True)
class FleetResult:
    config: FleetConfig
    driving_s: float
    tally: LoadTally
    confirmed: int
    """Of the orders placed during the run, those the saga had confirmed by its end."""
    order_page: LatencySummary
    fleet: LatencySummary
    unmatched_frames: int
    courier_minutes: float
    """Courier-minutes spent carrying a shipment (assigned or in transit) during the run."""
    events_by_name: dict[str, int]
    """Events stored during the run for the shipments carried, by name (`Shipment.RouteCheckpoint`, ...)."""
    cpu_s: dict[tuple[str, str], float] = field(default_factory=dict)
    """CPU seconds over the run per (command, "process" or "postgres"); "bench" is the load generator."""
    socket_failures: list[str] = field(default_factory=list)

    @property
    def offered_per_s(self) -> float:
        """Over the planned duration: what fell due, N x H if the bench kept its schedule."""
        return self.tally.offered / self.config.duration_s

    @property
    def accepted_per_s(self) -> float:
        """Over the run until the last answer came back."""
        return self.tally.accepted / self.driving_s if self.driving_s else 0.0

    @property
    def shipment_events(self) -> int:
        return sum(self.events_by_name.values())

    @property
    def checkpoints(self) -> int:
        return checkpoints_among(self.events_by_name)

    @property
    def events_per_courier_minute(self) -> float:
        return per_courier_minute(self.shipment_events, self.courier_minutes * 60)

    @property
    def checkpoints_per_courier_minute(self) -> float:
        return per_courier_minute(self.checkpoints, self.courier_minutes * 60)

    def cpu_by_process(self) -> dict[str, dict[str, float]]:
        processes = sorted({command for command, _ in self.cpu_s},
                           key=lambda name: (PROCESS_ORDER.index(name) if name in PROCESS_ORDER else 99, name))
        return {name: {kind: round(self.cpu_s.get((name, kind), 0.0), 3) for kind in ("process", "postgres")}
                for name in processes}


def _latency(summary: LatencySummary) -> dict[str, Any]:
    return {"frames": summary.frames, "missing": summary.missing, "p50": summary.p50_ms, "p95": summary.p95_ms,
            "p99": summary.p99_ms}


def result_json(result: FleetResult) -> dict[str, Any]:
    config, tally = result.config, result.tally
    return {
        "config": {"couriers": config.couriers, "hz": config.hz, "duration_s": config.duration_s,
                   "orders_per_s": config.orders_per_s, "sample_orders": config.sample_orders,
                   "speed_kmh": config.speed_kmh},
        "driving_s": round(result.driving_s, 3),
        "reports": {"offered": tally.offered, "accepted": tally.accepted, "refused": tally.refused,
                    "dropped": tally.dropped, "offered_per_s": round(result.offered_per_s, 2),
                    "accepted_per_s": round(result.accepted_per_s, 2), "requests": tally.requests,
                    "batched_requests": tally.batched_requests, "transport_errors": tally.transport_errors},
        "latency_ms": {"order_page": _latency(result.order_page), "fleet": _latency(result.fleet),
                       "unmatched_frames": result.unmatched_frames},
        "stored_events": {"courier_minutes": round(result.courier_minutes, 3),
                          "shipment_events": result.shipment_events, "checkpoints": result.checkpoints,
                          "per_courier_minute": round(result.events_per_courier_minute, 3),
                          "checkpoints_per_courier_minute": round(result.checkpoints_per_courier_minute, 3),
                          "by_event": dict(sorted(result.events_by_name.items()))},
        "orders": {"placed": tally.placed, "confirmed": result.confirmed, "picked_up": tally.picked_up,
                   "delivered": tally.delivered, "received": tally.received},
        "cpu_s": result.cpu_by_process(),
        "refusals": dict(tally.refusals.most_common(MOST_REFUSALS)),
        "socket_failures": result.socket_failures,
    }


def print_json(result: FleetResult) -> None:
    print(json.dumps(result_json(result), indent=2))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def report_fleet(result: FleetResult) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped to a file: rich's 80 columns would truncate the figures
    config, tally = result.config, result.tally
    console.print(f"{config.couriers} couriers at {config.hz:g} Hz for {result.driving_s:.1f} s, "
                  f"{config.orders_per_s:g} orders/s, {config.sample_orders} order pages sampled; every process "
                  "local")
    reports = Table(title="Position reports (offered over the planned duration, accepted until the last answer)")
    for column in ("offered /s", "accepted /s", "accepted", "refused", "dropped", "requests", "batched",
                   "transport errors"):
        reports.add_column(column, justify="right")
    reports.add_row(f"{result.offered_per_s:,.1f}", f"{result.accepted_per_s:,.1f}", f"{tally.accepted:,}",
                    f"{tally.refused:,}", f"{tally.dropped:,}", f"{tally.requests:,}", f"{tally.batched_requests:,}",
                    f"{tally.transport_errors:,}")
    console.print(reports)
    latency = Table(title="Report sent -> push frame arrived (ms)")
    for column in ("where", "frames", "missing", "p50", "p95", "p99"):
        latency.add_column(column, justify="left" if column == "where" else "right")
    for where, summary in (("customer's order page", result.order_page), ("operator's fleet socket", result.fleet)):
        latency.add_row(where, f"{summary.frames:,}", f"{summary.missing:,}", _ms(summary.p50_ms),
                        _ms(summary.p95_ms), _ms(summary.p99_ms))
    console.print(latency)
    events = Table(title="Stored events for the shipments carried, per courier-minute on a shipment")
    for column in ("courier-minutes", "events", "per courier-minute", "checkpoints", "per courier-minute "):
        events.add_column(column, justify="right")
    events.add_row(f"{result.courier_minutes:,.1f}", f"{result.shipment_events:,}",
                   f"{result.events_per_courier_minute:,.2f}", f"{result.checkpoints:,}",
                   f"{result.checkpoints_per_courier_minute:,.2f}")
    console.print(events)
    orders = Table(title="Orders during the run")
    for column in ("placed", "confirmed", "picked up", "delivered", "received"):
        orders.add_column(column, justify="right")
    orders.add_row(*(f"{count:,}" for count in (tally.placed, result.confirmed, tally.picked_up, tally.delivered,
                                                 tally.received)))
    console.print(orders)
    cpu = Table(title="CPU seconds over the run")
    for column in ("process", "CPU s", "its PostgreSQL backends s", "CPU ms per 1,000 accepted reports"):
        cpu.add_column(column, justify="left" if column == "process" else "right")
    for name, spent in result.cpu_by_process().items():
        per_thousand = f"{spent['process'] * 1e6 / tally.accepted:,.0f}" if tally.accepted else "-"
        cpu.add_row("bench (load generator)" if name == "bench" else name, f"{spent['process']:.2f}",
                    f"{spent['postgres']:.2f}", per_thousand)
    console.print(cpu)
    console.print("missing: reports accepted while a socket watched their courier that never came back on it (the "
                  "fleet socket coalesces: at most one position per courier per frame). Latency is wall clock, "
                  "request sent -> frame read, in this process.")
    for refusal, count in tally.refusals.most_common(MOST_REFUSALS):
        console.print(f"{count} x {refusal}", style="yellow", markup=False)
    for failure in result.socket_failures:
        console.print(failure, style="yellow", markup=False)
