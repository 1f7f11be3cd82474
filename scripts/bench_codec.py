"""Benchmark: encoding and decoding stored events, the library's tagged JSON beside the typed codec.

The events are a realistic mix: whole orders' histories made by the aggregates' own commands (as the rebuild
benchmark writes them), from products and couriers to delivered, declined and cancelled orders. Every pass
runs in this one process on the same events, the passes interleaved; each figure is the best of `rounds`.
No database: this is the mapper's cost alone, which every follower pays for every event it reads.
"""

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from rich.console import Console
from rich.table import Table

from adapters.event_codec import stored_event_mapper
from scripts.bench_rebuild import OrderHistories


def realistic_events(count: int) -> list[Any]:
    """At least `count` events of whole order histories, in the order they happened."""
    histories = OrderHistories()
    events: list[Any] = []
    for aggregate in (*histories.stocks, *histories.couriers):
        events.extend(aggregate.collect_events())
    while len(events) < count:
        for aggregates in histories.one_order().values():
            for aggregate in aggregates:
                events.extend(aggregate.collect_events())
    return events


@dataclass(frozen=True)
class Figure:
    name: str
    events: int
    seconds: float
    bytes_per_event: float | None = None
    baseline: str | None = None
    """The figure's name this one is compared with."""

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def best_times(rounds: int, works: Sequence[Callable[[], object]]) -> list[float]:
    """Each work's best time over `rounds`; the rounds interleave the works, so a busy moment of a shared machine
    slows one pass of each rather than every pass of one."""
    best = [float("inf")] * len(works)
    for _ in range(rounds):
        for index, work in enumerate(works):
            gc.collect()
            started = time.perf_counter()
            work()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def run(events: int, rounds: int = 3) -> list[Figure]:
    sample = realistic_events(events)
    typed = stored_event_mapper()
    # What every store holds so far: the library's own Mapper on the same transcoder, ours registered.
    tagged: Mapper[UUID] = Mapper(transcoder=typed.transcoder)
    stored_tagged = [tagged.to_stored_event(event) for event in sample]
    stored_typed = [typed.to_stored_event(event) for event in sample]
    for stored in (stored_typed, stored_tagged):
        if [typed.to_domain_event(each) for each in stored] != sample:
            raise RuntimeError("the typed codec did not decode the very events it was given")

    def size(stored: Sequence[StoredEvent]) -> float:
        return sum(len(each.state) for each in stored) / len(stored)

    count = len(sample)
    encode_tagged, decode_tagged = "encode tagged (library)", "decode tagged (library)"
    seconds = best_times(rounds, [
        lambda: [tagged.to_stored_event(event) for event in sample],
        lambda: [typed.to_stored_event(event) for event in sample],
        lambda: [tagged.to_domain_event(stored) for stored in stored_tagged],
        lambda: [typed.to_domain_event(stored) for stored in stored_typed],
        lambda: [typed.to_domain_event(stored) for stored in stored_tagged],
    ])
    return [
        Figure(encode_tagged, count, seconds[0], size(stored_tagged)),
        Figure("encode typed (msgspec)", count, seconds[1], size(stored_typed), baseline=encode_tagged),
        Figure(decode_tagged, count, seconds[2]),
        Figure("decode typed (msgspec)", count, seconds[3], baseline=decode_tagged),
        Figure("decode tagged (msgspec mapper: old history)", count, seconds[4], baseline=decode_tagged),
    ]


def report(figures: list[Figure], rounds: int, console: Console | None = None) -> None:
    console = console or Console()
    by_name = {figure.name: figure for figure in figures}
    table = Table(title=f"Stored-event codec: {figures[0].events:,} events, best of {rounds} passes")
    for column in ("what", "events/s", "µs/event", "bytes/event", "vs library"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for figure in figures:
        baseline = by_name[figure.baseline] if figure.baseline else None
        table.add_row(figure.name, f"{figure.per_second:,.0f}", f"{1e6 / figure.per_second:.1f}",
                      f"{figure.bytes_per_event:,.0f}" if figure.bytes_per_event else "",
                      f"{figure.per_second / baseline.per_second:.2f} x" if baseline else "")
    console.print(table)
