"""`logistics soak`: the split deployment under a steady load for minutes, watched for leaks and growing lag.

The command API, query API, worker and projector run as separate `logistics` processes on a fresh database and
a private RabbitMQ exchange (both removed afterwards). Orders arrive at `--rate` per second while couriers
deliver them and customers confirm receipt (scripts/soak_load.py). Every `--sample-s` seconds the soak records
each process's resident memory, open file descriptors and PostgreSQL connections, the platform's lag and relay
backlog, and the push latency p50/p99 of the frames of that interval (scripts/soak_sampler.py). It writes
soak.csv and soak.png into `--out` and prints a summary and a verdict line; it exits 1 when the verdict fails.

The verdict's rules are in scripts/soak_verdict.py: after warm-up (the first 20 % of the run or 1 minute,
whichever is shorter) no process's RSS may grow by more than 10 % to the end, and over the last half the lag
must stay at or under 30 s with no upward trend (the fitted line rising more than 10 s across that half).
"""

import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import httpx
from rich.console import Console
from rich.table import Table

from adapters.database import Database, create_database, drop_database
from adapters.tokens import TokenIssuer
from composition.migration import migrate
from scripts.bench_orders import SECRET
from scripts.bench_push import _delete_exchange, percentile
from scripts.processes import background_process, logistics_process
from scripts.soak_load import CUSTOMERS, SPEED_KMH, Load, couriers_for, steady_load
from scripts.soak_plot import plot, write_csv
from scripts.soak_sampler import Sample, sample_platform, sample_processes
from scripts.soak_verdict import Verdict, judge, warm_up_s

MIB = 2**20


@dataclass(frozen=True)
class SoakConfig:
    server_url: str
    amqp_url: str
    rate: float
    duration_s: float
    out: Path
    sample_s: float = 10.0
    couriers: int | None = None
    """None: as many as the rate needs (soak_load.couriers_for)."""


@dataclass
class SoakResult:
    config: SoakConfig
    samples: list[Sample]
    load: Load
    couriers: int
    ran_s: float
    verdict: Verdict
    csv_path: Path
    png_path: Path


def default_out(now: datetime | None = None) -> Path:
    return Path(f"soak-{(now or datetime.now()).strftime('%Y%m%d-%H%M%S')}")


def _seed_product(api_url: str, admin_token: str) -> str:
    with httpx.Client(base_url=api_url, timeout=30, trust_env=False) as http:
        product = http.post("/api/products", headers={"Authorization": f"Bearer {admin_token}"}, json={
            "sku": "SOAK-1", "name": "Soak item", "price": "1.00", "initial_stock": 1_000_000})
        product.raise_for_status()
        return str(product.json()["id"])


def _watch(config: SoakConfig, database: Database, processes: dict[str, int], load: Load,
           console: Console) -> tuple[list[Sample], float]:
    samples: list[Sample] = []
    started = time.monotonic()
    next_at = started + config.sample_s
    deadline = started + config.duration_s
    while True:
        time.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
        now = time.monotonic()
        latencies = load.tracker.take_latencies()
        sample = Sample(elapsed_s=now - started, processes=sample_processes(database, processes),
                        platform=sample_platform(database), push_frames=len(latencies),
                        push_p50_ms=percentile(latencies, 50), push_p99_ms=percentile(latencies, 99),
                        placed=load.stats.placed.value, received=load.stats.received.value)
        samples.append(sample)
        memory = ", ".join(f"{p.name} {p.rss_bytes / MIB:.0f}" for p in sample.processes)
        console.print(f"{sample.elapsed_s:5.0f} s  placed {sample.placed} ({load.stats.skipped.value} skipped), "
                      f"received {sample.received}, in flight {load.tracker.in_flight} | lag "
                      f"{sample.platform.lag_s:.1f} s, relay {sample.platform.relay_unsent} | push p50 "
                      f"{sample.push_p50_ms:.0f} p99 {sample.push_p99_ms:.0f} ms | MiB {memory}")
        if now >= deadline - 0.5 or not all(p.alive for p in sample.processes):
            return samples, now - started
        next_at += config.sample_s


def run_soak(config: SoakConfig, console: Console | None = None) -> SoakResult:
    # One line per sample however narrow the terminal (or a log file's assumed width).
    console = console or Console(stderr=True, soft_wrap=True)
    server = Database.from_url(config.server_url)
    database = create_database(server, f"logistics_soak_{uuid4().hex[:10]}")
    exchange = f"soak.{uuid4().hex[:10]}"
    tokens = TokenIssuer(SECRET)
    admin_token = tokens.issue("admin", "soak")
    couriers = config.couriers or couriers_for(config.rate)
    config.out.mkdir(parents=True, exist_ok=True)
    try:
        migrate(database)
        with tempfile.TemporaryDirectory() as log_dir:
            logs = Path(log_dir)
            env = {"LOGISTICS_DATABASE_URL": database.url, "LOGISTICS_SECRET": SECRET,
                   "LOGISTICS_AMQP_URL": config.amqp_url, "LOGISTICS_AMQP_EXCHANGE": exchange,
                   "LOGISTICS_DATA_DIR": log_dir, "LOGISTICS_ENV_FILE": str(logs / "none"),
                   # The soak's couriers are fast-forwarded: their moves are not GPS jumps.
                   "LOGISTICS_MAX_COURIER_SPEED_KMH": str(SPEED_KMH * 2)}
            with logistics_process(["command-api"], env, logs) as api, \
                    background_process(["worker"], env, logs) as worker, \
                    background_process(["projector"], env, logs) as projector, \
                    logistics_process(["query-api"], env, logs) as query_api:
                processes = {"command-api": api.process.pid, "query-api": query_api.process.pid,
                             "worker": worker.process.pid, "projector": projector.process.pid}
                product_id = _seed_product(api.base_url, admin_token)
                console.print(f"registering {couriers} couriers; then {config.rate:g} orders/s for "
                              f"{config.duration_s:g} s, a sample every {config.sample_s:g} s")
                customer_tokens = [tokens.issue("customer", f"soak-customer-{n}") for n in range(CUSTOMERS)]
                with steady_load(api.base_url, query_api.base_url, admin_token, customer_tokens, product_id,
                                 config.rate, couriers) as load:
                    samples, ran_s = _watch(config, database, processes, load, console)
        csv_path, png_path = config.out / "soak.csv", config.out / "soak.png"
        write_csv(samples, csv_path)
        plot(samples, png_path, f"logistics soak: {config.rate:g} orders/s for {ran_s / 60:.1f} min, "
                                f"{couriers} couriers", warm_up_s(config.duration_s))
        return SoakResult(config, samples, load, couriers, ran_s, judge(samples, config.duration_s), csv_path,
                          png_path)
    finally:
        drop_database(server, database.dbname)
        _delete_exchange(config.amqp_url, exchange)


def report_soak(result: SoakResult) -> int:
    """Print the summary and the verdict; the exit status (1 when the verdict fails)."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    stats, samples = result.load.stats, result.samples
    verdict = result.verdict
    per_process = Table(title=f"Per process over {result.ran_s / 60:.1f} min (warm-up "
                              f"{warm_up_s(result.config.duration_s):.0f} s)")
    for column in ("process", "RSS after warm-up MiB", "RSS at end MiB", "growth", "peak MiB", "open fds first",
                   "open fds last", "PG connections max", "CPU cores"):
        per_process.add_column(column, justify="left" if column == "process" else "right")
    for growth in verdict.memory:
        rows = [p for sample in samples for p in sample.processes if p.name == growth.process]
        span_s = samples[-1].elapsed_s - samples[0].elapsed_s
        cores = f"{(rows[-1].cpu_s - rows[0].cpu_s) / span_s:.2f}" if span_s > 0 else "-"
        per_process.add_row(growth.process, f"{growth.baseline_bytes / MIB:.1f}", f"{growth.end_bytes / MIB:.1f}",
                            f"{growth.growth:+.1%}", f"{growth.peak_bytes / MIB:.1f}", str(rows[0].open_fds),
                            str(rows[-1].open_fds), str(max(p.pg_connections for p in rows)), cores)
    console.print(per_process)
    latencies = result.load.tracker.all_latencies_ms
    platform = Table(title="The platform")
    platform.add_column("measure")
    platform.add_column("figure", justify="right")
    lag = verdict.lag
    rise = "n/a" if lag.rise_last_half_s is None else f"{lag.rise_last_half_s:+.1f} s"
    for measure, figure in (
            ("orders placed (target rate)", f"{stats.placed.value} ({result.config.rate:g}/s)"),
            ("achieved placement rate", f"{stats.placed.value / result.ran_s:.1f}/s" if result.ran_s else "-"),
            ("slots skipped (clients busy > 1 s)", str(stats.skipped.value)),
            ("receipts confirmed (deliveries done)", f"{stats.received.value} "
                                                     f"({stats.received.value / max(result.ran_s, 1e-9):.1f}/s)"),
            ("couriers / positions posted", f"{result.couriers} / {result.load.couriers.stats.positions.value}"),
            ("orders in flight at the end", str(result.load.tracker.in_flight)),
            ("errors (HTTP), firehose reconnects", f"{stats.errors.value + result.load.couriers.stats.errors.value}, "
                                                   f"{stats.reconnects.value}"),
            ("lag max, whole run / last half", f"{lag.max_s:.1f} s / {lag.max_last_half_s:.1f} s"),
            ("lag rise across the last half (fit)", rise),
            ("relay backlog max", str(max((s.platform.relay_unsent for s in samples), default=0))),
            ("push answer -> frame p50 / p99", f"{percentile(latencies, 50):.0f} / {percentile(latencies, 99):.0f} ms "
                                               f"({len(latencies)} orders)")):
        platform.add_row(measure, figure)
    console.print(platform)
    console.print(f"samples: {result.csv_path}, plot: {result.png_path}")
    if verdict.passed:
        console.print("verdict: PASS (memory growth after warm-up <= 10 % for every process; lag bounded)")
        return 0
    console.print(f"verdict: FAIL: {'; '.join(verdict.failures)}")
    return 1
