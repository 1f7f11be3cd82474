"""The chaos runner's findings: what was accepted against what the event store, the read models and a consumer of
the exchange hold; doubled events, stuck orders, read-model rows a rebuild disagrees with; each fault's time to
ready; `logistics verify`'s verdict. Printed as rich tables and written as JSON; `failures` says what fails the run.
"""

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
from psycopg.sql import SQL, Identifier
from rich.console import Console
from rich.table import Table

from adapters.database import READ_SCHEMA, Database
from adapters.messaging import Message
from adapters.postgres_read_models import doc_table, rows_table, tracking_table
from adapters.read_generations import abandon, live_generation, next_generation
from adapters.rebuild_compare import compare
from adapters.rebuild_replay import EventLogs, replay
from adapters.rebuild_tables import tracking_positions, write_fold
from projections.models import ALL_MODELS
from projections.replay import ModelFold, NoProgress
from scripts.chaos_faults import READY_LIMIT_S, FaultOutcome
from scripts.chaos_load import Placement
from scripts.rebuild import REBUILD_SOURCES

FINAL_TOPICS = (".Received", ".Cancelled")
PER_ORDER_STREAMS = (("orders.orders_events", "Order."), ("payments.payments_events", "Payment."),
                     ("inventory.inventory_events", "StockReservation."))
"""Aggregates of which each order has one, whose every event happens at most once (a shipment or a courier may
be assigned again, a stock level reserved many times: those are verify's to judge)."""


class MessageTally:
    """Every message id a consumer of the exchange received, with how many copies of each."""

    def __init__(self) -> None:
        self.copies: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        with self._lock:
            self.copies[message.message_id] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.copies)


@dataclass
class StoreFigures:
    orders: set[UUID]
    final: set[UUID]
    doubled: list[str]


def read_store(database: Database) -> StoreFigures:
    """The orders in the event store, which of them are final, and every event that happened twice to one."""
    orders: set[UUID] = set()
    final: set[UUID] = set()
    doubled: list[str] = []
    with database.connect() as connection:
        for table, prefix in PER_ORDER_STREAMS:
            schema, name = table.split(".")
            rows = connection.execute(SQL(
                "SELECT originator_id, topic, count(*) FROM {0}.{1} WHERE topic LIKE %s GROUP BY originator_id, topic"
            ).format(Identifier(schema), Identifier(name)), (f"%:{prefix}%",)).fetchall()
            for originator_id, topic, count in rows:
                if count > 1:
                    doubled.append(f"{topic} of {originator_id}: {count} times")
                if prefix == "Order.":
                    orders.add(originator_id)
                    if str(topic).endswith(FINAL_TOPICS):
                        final.add(originator_id)
    return StoreFigures(orders, final, doubled)


def read_model_orders(database: Database) -> set[UUID]:
    with database.connect() as connection:
        return {row[0] for row in connection.execute(f"SELECT id FROM {READ_SCHEMA}.orders").fetchall()}


def outbox_ids(database: Database) -> tuple[set[str], int]:
    """Every outbox row's message id, and how many are not published yet."""
    with database.connect() as connection:
        rows = connection.execute(f"SELECT message_id, published_at IS NULL FROM {READ_SCHEMA}.outbox").fetchall()
    return {str(row[0]) for row in rows}, sum(1 for row in rows if row[1])


@dataclass
class ModelComparison:
    model: str
    differing_rows: int
    tables: list[str]
    samples: list[str]


def compare_with_rebuild(database: Database) -> list[ModelComparison]:
    """Replay every read model into a scratch generation up to the live one's positions and compare them row by
    row (what `rebuild --blue-green` checks before a swap). Call it with the projectors stopped."""
    models = list(ALL_MODELS.values())
    results = []
    scratch: dict[str, int] = {}
    try:
        with EventLogs(database, REBUILD_SOURCES.contexts) as logs, database.connect() as connection:
            pairs = [(model, live_generation(connection, model)) for model in models]
            folds = [ModelFold(model, tracking_positions(connection, model, generation)) for model, generation in pairs]
            for model in models:
                scratch[model.name] = next_generation(database, model)
            replay(logs, folds, NoProgress(), "compare")
            for fold, (model, live) in zip(folds, pairs, strict=True):
                with connection.transaction():
                    write_fold(connection, fold, scratch[model.name])
                mismatches = compare(connection, model, live, scratch[model.name])
                differing = 0
                for mismatch in mismatches:
                    built, replayed = _table_pair(mismatch.table, model.name, live, scratch[model.name])
                    row = connection.execute(SQL(
                        "SELECT (SELECT count(*) FROM (SELECT * FROM {0} EXCEPT ALL SELECT * FROM {1}) AS a)"
                        " + (SELECT count(*) FROM (SELECT * FROM {1} EXCEPT ALL SELECT * FROM {0}) AS b)"
                    ).format(built, replayed)).fetchone()
                    differing += int(row[0]) if row else 0
                results.append(ModelComparison(model.name, differing, [m.table for m in mismatches],
                                               [sample for m in mismatches for sample in m.samples]))
    finally:
        for model in models:
            if model.name in scratch:
                abandon(database, model, scratch[model.name])
    return results


def _table_pair(role: str, model_name: str, live: int, scratch: int) -> tuple[Any, Any]:
    model = ALL_MODELS[model_name]
    name = {"tracking": tracking_table, "documents": doc_table, "rows": rows_table}[role]
    return (SQL("{0}.{1}").format(Identifier(READ_SCHEMA), Identifier(name(model, live))),
            SQL("{0}.{1}").format(Identifier(READ_SCHEMA), Identifier(name(model, scratch))))


@dataclass
class ChaosReport:
    orders_requested: int
    seed: int
    faults_planned: list[dict[str, Any]]
    answers_202: int = 0
    accepted: int = 0
    refused: list[str] = field(default_factory=list)
    placement_retries: int = 0
    in_event_store: int = 0
    in_read_models: int = 0
    lost_from_store: list[str] = field(default_factory=list)
    lost_from_read_models: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    final: int = 0
    received: int = 0
    cancelled: int = 0
    deliveries: int = 0
    receipt_failures: list[str] = field(default_factory=list)
    read_model_mismatches: list[dict[str, Any]] = field(default_factory=list)
    outbox_rows: int = 0
    outbox_unpublished: int = 0
    messages_received: int = 0
    distinct_messages_received: int = 0
    lost_messages: int = 0
    duplicate_copies: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)
    unplanned_exits: dict[str, list[int]] = field(default_factory=dict)
    verify_exit_code: int | None = None
    verify_output: str = ""
    settled_s: float = 0.0
    total_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def mismatched_rows(self) -> int:
        return sum(int(model["differing_rows"]) for model in self.read_model_mismatches)

    def failures(self) -> list[str]:
        """Why the run failed (empty: it passed)."""
        found = []
        lost = len(self.lost_from_store) + len(self.lost_from_read_models)
        for count, what in ((lost, "orders lost"), (len(self.doubled), "events doubled"),
                            (len(self.stuck), "orders stuck"), (self.mismatched_rows, "read-model rows differ"),
                            (self.lost_messages, "messages lost")):
            if count:
                found.append(f"{count} {what}")
        if self.read_model_mismatches and not self.mismatched_rows:
            found.append("read models differ from a rebuild")
        if self.verify_exit_code != 0:
            found.append(f"logistics verify exited {self.verify_exit_code}")
        late = [f"{fault['kind']} at {fault['started_s']} s" for fault in self.faults if not fault["ready_in_time"]]
        if late:
            found.append(f"not ready within {READY_LIMIT_S:g} s of its fault: {', '.join(late)}")
        found.extend(self.errors)
        return found

    def to_json(self) -> bytes:
        document = asdict(self)
        document["mismatched_rows"] = self.mismatched_rows
        document["failures"] = self.failures()
        document["passed"] = not document["failures"]
        return msgspec.json.format(msgspec.json.encode(document), indent=2)

    def write_json(self, path: Path) -> None:
        path.write_bytes(self.to_json() + b"\n")


def count_orders(report: ChaosReport, database: Database, placement: Placement) -> None:
    """Accepted orders against the store and the read models: lost, doubled, stuck, how they ended."""
    accepted = set(placement.accepted)
    store = read_store(database)
    in_views = read_model_orders(database)
    report.answers_202 = placement.answers_202
    report.accepted = len(accepted)
    report.refused = placement.refused
    report.placement_retries = placement.retries
    report.in_event_store = len(accepted & store.orders)
    report.in_read_models = len(accepted & in_views)
    report.lost_from_store = sorted(str(i) for i in accepted - store.orders)
    report.lost_from_read_models = sorted(str(i) for i in (accepted & store.orders) - in_views)
    report.doubled = store.doubled
    report.stuck = sorted(str(i) for i in (accepted & store.orders) - store.final)
    report.final = len(accepted & store.final)
    with database.connect() as connection:
        rows = connection.execute("SELECT originator_id, topic FROM orders.orders_events "
                                  "WHERE topic LIKE '%:Order.Received' OR topic LIKE '%:Order.Cancelled'").fetchall()
    ours = [str(topic) for order_id, topic in rows if order_id in accepted]
    report.received = sum(1 for topic in ours if topic.endswith(".Received"))
    report.cancelled = sum(1 for topic in ours if topic.endswith(".Cancelled"))


def count_messages(report: ChaosReport, database: Database, tally: MessageTally) -> None:
    """Outbox rows against what the runner's consumer received: lost messages, duplicate copies."""
    outbox, unpublished = outbox_ids(database)
    copies = tally.snapshot()
    report.outbox_rows, report.outbox_unpublished = len(outbox), unpublished
    report.messages_received = sum(copies.values())
    report.distinct_messages_received = len(copies)
    report.lost_messages = len(outbox - set(copies))
    report.duplicate_copies = report.messages_received - report.distinct_messages_received


def fault_record(outcome: FaultOutcome) -> dict[str, Any]:
    return {"kind": outcome.kind, "planned_s": outcome.planned_s, "started_s": outcome.started_s,
            "outage_s": outcome.outage_s, "ready_s": outcome.ready_s, "worst_ready_s": outcome.worst_ready_s,
            "ready_in_time": outcome.ready_in_time, "error": outcome.error}


def _shown(items: Sequence[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def render(report: ChaosReport, console: Console) -> None:
    table = Table(title=f"Chaos run: {report.orders_requested} orders, {len(report.faults)} faults, seed {report.seed}")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("detail", overflow="fold")
    rows: list[tuple[str, str, str]] = [
        ("orders accepted (202)", f"{report.accepted:,}",
         f"{report.answers_202:,} answers, {report.placement_retries:,} retried attempts, "
         f"{len(report.refused)} refused" + (f": {_shown(report.refused, 2)}" if report.refused else "")),
        ("  in the event store", f"{report.in_event_store:,}", ""),
        ("  in the read models", f"{report.in_read_models:,}", ""),
        ("  final (received / cancelled)", f"{report.final:,}", f"{report.received:,} / {report.cancelled:,}, "
                                                                f"{report.deliveries:,} deliveries by the couriers"),
        ("lost", str(len(report.lost_from_store) + len(report.lost_from_read_models)),
         _shown([f"not in the store: {i}" for i in report.lost_from_store]
                + [f"not in the read models: {i}" for i in report.lost_from_read_models])),
        ("doubled", str(len(report.doubled)), _shown(report.doubled)),
        ("stuck", str(len(report.stuck)), _shown(report.stuck)),
        ("read-model rows differing from a rebuild", str(report.mismatched_rows),
         _shown([f"{m['model']}: {', '.join(m['tables'])}" for m in report.read_model_mismatches])),
        ("outbox rows", f"{report.outbox_rows:,}", f"{report.outbox_unpublished} unpublished"),
        ("  distinct message ids received", f"{report.distinct_messages_received:,}",
         f"{report.messages_received:,} deliveries in all"),
        ("  lost messages", str(report.lost_messages), ""),
        ("  duplicate copies (by design)", str(report.duplicate_copies), "consumers drop them by message id"),
        ("unplanned exits", str(sum(len(codes) for codes in report.unplanned_exits.values())),
         _shown([f"{name}: {codes}" for name, codes in report.unplanned_exits.items() if codes])),
        ("logistics verify", "clean" if report.verify_exit_code == 0 else f"exit {report.verify_exit_code}", ""),
        ("quiet after the last order and fault", f"{report.settled_s:.0f} s", f"whole run {report.total_s:.0f} s"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    faults = Table(title=f"Faults: time until the processes they hit were ready again (limit {READY_LIMIT_S:g} s)")
    for column in ("fault", "planned s", "at s", "outage s", "ready after s (per process)", "ok"):
        faults.add_column(column, justify="left" if column.startswith(("fault", "ready")) else "right")
    for fault in report.faults:
        readiness = ", ".join(f"{name} {'never' if seconds is None else f'{seconds:.1f}'}"
                              for name, seconds in fault["ready_s"].items())
        faults.add_row(fault["kind"], f"{fault['planned_s']:.0f}", f"{fault['started_s']:.0f}",
                       f"{fault['outage_s']:.1f}", readiness + (f" [{fault['error']}]" if fault["error"] else ""),
                       "[green]yes[/]" if fault["ready_in_time"] else "[red]NO[/]")
    console.print(faults)
    failures = report.failures()
    if failures:
        console.print(f"[bold red]FAILED[/]: {'; '.join(failures)}")
    else:
        console.print("[bold green]PASSED[/]: nothing lost, doubled or stuck; read models equal a rebuild; "
                      "verify clean; every process ready in time")
