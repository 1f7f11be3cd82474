"""`logistics verify`: replay every stream of the four contexts and report which of the platform's invariants hold.

The reading is `adapters.store_reading`, the judging `domain.invariants` (the domain's facts) and
`adapters.store_checks` (the dispatch index and the parked events); this prints the verdict and turns it into
the process's exit code.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapters.settings import Settings
from adapters.store_checks import dispatch_index_agrees, nothing_parked
from adapters.store_reading import load_events, load_parked
from domain.invariants import Check, check_invariants

SHOWN_PER_CHECK: Final = 10
STUCK_MARGIN_S: Final = 60.0
"""The default deadline is the payment timeout plus this: by then every saga step should have happened."""

EXIT_HOLDS: Final = 0
EXIT_BREACHED: Final = 1
EXIT_UNREADABLE: Final = 2


def report(checks: Sequence[Check], console: Console, events: int) -> None:
    table = Table(title=f"logistics verify: {events} events replayed", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("invariant")
    table.add_column("examined", justify="right")
    table.add_column("breaches", justify="right")
    table.add_column("notes", justify="right")
    for check in checks:
        mark = Text("✓", style="green") if check.holds else Text("✗", style="bold red")
        table.add_row(mark, check.name, str(check.examined), str(len(check.details)), str(len(check.notes)))
    console.print(table)
    for check in checks:
        _listing(console, "✗", "bold red", f"{check.name}: {_count(check.details, 'breach', 'breaches')}",
                 check.details)
    for check in checks:
        _listing(console, "i", "yellow", f"{check.name}: {_count(check.notes, 'note', 'notes')}", check.notes)
    breached = [check for check in checks if not check.holds]
    if breached:
        console.print(Text(f"{len(breached)} of {len(checks)} invariants breached", style="bold red"))
    else:
        console.print(Text(f"all {len(checks)} invariants hold", style="green"))


def _count(items: Sequence[str], one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}"


def _listing(console: Console, mark: str, style: str, heading: str, lines: Sequence[str]) -> None:
    if not lines:
        return
    console.print(Text(f"{mark} {heading}", style=style), soft_wrap=True)
    # Texts, not markup: the details are data and may contain brackets.
    for line in lines[:SHOWN_PER_CHECK]:
        console.print(Text(f"  - {line}"), soft_wrap=True)
    if len(lines) > SHOWN_PER_CHECK:
        console.print(Text(f"  … and {len(lines) - SHOWN_PER_CHECK} more"))


def run_verify(settings: Settings, stuck_after_s: float | None = None, console: Console | None = None) -> int:
    """Read the configured store, print what holds and what does not; the process exit code."""
    from composition.contexts import CONTEXT_APPLICATIONS
    from composition.database import locate_database

    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            # Piped or captured output would be cut at 80 columns, and ids are what an operator greps for.
            console.width = 160
    stuck_after = timedelta(seconds=stuck_after_s if stuck_after_s is not None
                            else settings.payment_timeout_s + STUCK_MARGIN_S)
    try:
        database = locate_database(settings)
        # Orders first (see `load_events`), as CONTEXT_APPLICATIONS lists them.
        loaded = load_events(database, CONTEXT_APPLICATIONS)
        parked = load_parked(database)
    except Exception as error:  # the store itself is unreadable (no tables, no server): say so, plainly
        console.print(Text(f"cannot read the event store ({type(error).__name__}: {error}); "
                           "`logistics migrate` sets it up", style="bold red"))
        return EXIT_UNREADABLE
    checks = check_invariants(loaded.events, now=datetime.now(UTC), stuck_after=stuck_after,
                              undecodable=loaded.undecodable)
    checks.append(dispatch_index_agrees(loaded.events, loaded.dispatch_index))
    checks.append(nothing_parked(parked))
    report(checks, console, len(loaded.events))
    return EXIT_HOLDS if all(check.holds for check in checks) else EXIT_BREACHED
