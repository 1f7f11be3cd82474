"""`logistics rebuild NAME|--all [--blue-green]`: rebuild read models from the event store, with progress."""

from collections.abc import Sequence
from types import TracebackType
from typing import Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from adapters.rebuild_blue_green import rebuild_blue_green
from adapters.rebuild_in_place import rebuild_in_place
from adapters.rebuild_replay import RebuildSources
from adapters.rebuild_runs import RebuildInProgress, RebuildResult
from adapters.settings import Settings
from composition.contexts import CONTEXT_APPLICATIONS
from composition.database import locate_database
from composition.migration import migrate
from projections.models import ALL_MODELS

REBUILD_SOURCES: Final = RebuildSources(CONTEXT_APPLICATIONS, ALL_MODELS)
"""What a rebuild works from: the four contexts' logs, and every read model in the live projector's order."""


class EventsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("- ev/s" if speed is None else f"{speed:,.0f} ev/s", style="progress.data.speed")


class RichProgress:
    """A bar per model, showing its current phase, events/s and the time left."""

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), EventsPerSecond(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def begin(self, model: str, phase: str, total: int) -> None:
        description = f"{model:<9} {phase}"
        task = self.tasks.get(model)
        if task is None:
            self.tasks[model] = self.progress.add_task(description, total=max(total, 1))
        else:
            self.finish(model)
            self.progress.reset(task, total=max(total, 1), description=description)

    def advance(self, model: str, events: int) -> None:
        self.progress.advance(self.tasks[model], events)

    def finish(self, model: str, description: str | None = None) -> None:
        """Positions only estimate the events (ids have gaps): show a finished phase as full."""
        task = self.tasks.get(model)
        if task is not None:
            completed = next(item.completed for item in self.progress.tasks if item.id == task)
            self.progress.update(task, total=max(completed, 1), completed=max(completed, 1),
                                 description=description)

    def __enter__(self) -> "RichProgress":
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            for model in self.tasks:
                self.finish(model, f"{model:<9} done")
        self.progress.stop()


def summary(results: Sequence[RebuildResult]) -> Table:
    table = Table(title="Rebuilt")
    for column in ("model", "mode", "events", "seconds", "events/s", "gen", "result"):
        table.add_column(column, justify="left" if column in ("model", "mode", "result") else "right")
    for result in results:
        outcome = ("swapped" if result.mode == "blue-green" else "rebuilt") if result.ok else "[red]DIFFERENT[/red]"
        table.add_row(result.model, result.mode, f"{result.events:,}", f"{result.seconds:.2f}",
                      f"{result.per_second:,.0f}", str(result.generation), outcome)
    shared = [result for result in results if result.mode == "in place"]
    if len(shared) > 1:
        # One pass fed every model: its rate is that of the events read, whichever models took each.
        seconds = shared[0].seconds
        table.add_section()
        table.add_row("(one pass)", "in place", f"{shared[0].read:,}", f"{seconds:.2f}",
                      f"{shared[0].read / seconds if seconds else 0:,.0f}", "", "events read")
    notes = [f"{result.model}: " + ", ".join(f"{name} {seconds:.2f}s" for name, (_, seconds) in result.phases.items())
             for result in results if result.mode == "blue-green"]
    # A rebuild replays up to where the live generation stands; the projector builds the rest, publishing.
    notes.extend(f"{result.model}: the live version has projected nothing yet, so there was nothing to replay"
                 for result in results if result.ok and result.events == 0)
    left_out = max((result.left_out for result in results), default=0)
    if left_out:
        # Loud: the models are whole only once an operator has retried or skipped them (`logistics parked`).
        notes.append(f"[yellow]{left_out:,} parked or skipped event(s) left out, as the live read models left "
                     "them out: see `logistics parked list`[/yellow]")
    table.caption = "\n".join(notes) or None
    return table


def print_mismatches(console: Console, result: RebuildResult) -> None:
    console.print(f"[red]{result.model}: the built generation differs from a full replay; it was dropped and "
                  f"the live generation kept[/red]")
    for mismatch in result.mismatches:
        console.print(f"  {mismatch.table}: built {mismatch.built.rows} rows ({mismatch.built.md5}), "
                      f"replayed {mismatch.replayed.rows} rows ({mismatch.replayed.md5})")
        for sample in mismatch.samples:
            console.print(f"    {sample[:400]}{'…' if len(sample) > 400 else ''}", markup=False)


def run_rebuild(settings: Settings, name: str | None, every: bool, blue_green: bool) -> int:
    models = list(ALL_MODELS.values()) if every else [ALL_MODELS[name or ""]]
    database = locate_database(settings)
    migrate(database)
    console = Console()
    results: list[RebuildResult] = []
    try:
        with RichProgress(console) as progress:
            if blue_green:
                for model in models:
                    results.append(rebuild_blue_green(database, REBUILD_SOURCES, model, progress))
                    progress.finish(model.name, f"{model.name:<9} done")
            else:
                results = rebuild_in_place(database, REBUILD_SOURCES, models, progress)
    except KeyboardInterrupt:
        if results:
            console.print(summary(results))
        untouched = ("the model being built keeps its live version" if blue_green
                     else "the transaction rolled back: every model keeps its live version as it was")
        console.print(f"[yellow]interrupted: {untouched}[/yellow]")
        return 130
    except RebuildInProgress as error:
        console.print(f"[red]{error}[/red]")
        return 1
    console.print(summary(results))
    for result in results:
        if not result.ok:
            print_mismatches(console, result)
    return 0 if all(result.ok for result in results) else 1
