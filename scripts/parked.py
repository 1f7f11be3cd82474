"""`logistics parked`: the operator's view of parked events, and the two ways out: retry or skip.

`list` shows what is parked or held (`--all`: resolved ones too), `show ID` one event with its error and
traceback, `retry ID|--all` asks the follower holding it to process it again with the current code (then what
was held behind it), and `skip ID --reason TEXT` records that an operator chose never to process it. Retries
and skips are audited (`read.parked_actions`), with the operator's name.
"""

import argparse
import getpass
import json
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from adapters.parked_events import NotParked, ParkedEvents, UnknownParkedEvent
from adapters.settings import Settings
from composition.database import locate_database
from composition.migration import migrate
from queries.parked import ParkedEvent, ParkedStatus


def add_parked_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parked = commands.add_parser("parked", help="events a follower parked: list, show, retry or skip them")
    actions = parked.add_subparsers(dest="parked", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="what is parked or held (oldest first)")
    listing.add_argument("--follower", help="only this follower, e.g. readmodels-from-orders")
    listing.add_argument("--all", action="store_true", help="resolved ones too (retried, skipped)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show = actions.add_parser("show", help="one parked event, with its error and traceback")
    show.add_argument("id", type=int)
    retry = actions.add_parser("retry", help="process a parked event again, then what was held behind it")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", type=int, nargs="?")
    which.add_argument("--all", action="store_true", help="every parked event (of --follower, if given)")
    retry.add_argument("--follower", help="with --all: only this follower's")
    skip = actions.add_parser("skip", help="never process a parked event; what was held behind it goes on")
    skip.add_argument("id", type=int)
    skip.add_argument("--reason", required=True, help="why (kept with the event, for the audit)")


def operator_name() -> str:
    return f"cli:{getpass.getuser()}"


def run_parked(settings: Settings, args: argparse.Namespace) -> int:
    database = locate_database(settings)
    migrate(database)
    parked = ParkedEvents.of(database)
    console = Console()
    try:
        if args.parked == "list":
            statuses = tuple(ParkedStatus) if args.all else (ParkedStatus.PARKED, ParkedStatus.HELD,
                                                               ParkedStatus.RETRY)
            rows = parked.listed(args.follower, statuses)
            if args.json:
                print(json.dumps([as_json(row) for row in rows], indent=2))
            else:
                console.print(listing(rows))
        elif args.parked == "show":
            describe(console, parked.get(args.id))
        elif args.parked == "retry":
            retried = parked.retry_all(operator_name(), args.follower) if args.all else [
                parked.retry(args.id, operator_name())]
            console.print(f"asked for {len(retried)} retr{'y' if len(retried) == 1 else 'ies'}; the follower "
                          "holding each processes it within a second or two (`logistics parked list --all`)")
        elif args.parked == "skip":
            row = parked.skip(args.id, operator_name(), args.reason)
            console.print(f"skipped {row.id} ({row.topic} at {row.notification_id}); what was held behind it "
                          "goes on")
    except UnknownParkedEvent as error:
        console.print(f"[red]no parked event {error}[/red]")
        return 1
    except NotParked as error:
        console.print(f"[red]{error}[/red]")
        return 1
    return 0


def listing(rows: Sequence[ParkedEvent]) -> Table:
    table = Table(title="Parked events" if rows else "Parked events: none")
    for column in ("id", "follower", "status", "event", "aggregate", "at", "attempts", "parked", "error"):
        table.add_column(column, justify="right" if column in ("id", "at", "attempts") else "left")
    for row in rows:
        colour = {"parked": "red", "held": "yellow", "retry": "cyan"}.get(row.status.value, "dim")
        table.add_row(str(row.id), row.follower, f"[{colour}]{row.status.value}[/{colour}]",
                      row.topic.rsplit(":", 1)[-1], str(row.originator_id), str(row.notification_id),
                      str(row.attempts), row.parked_at.strftime("%Y-%m-%d %H:%M:%S"), row.error[:60])
    return table


def describe(console: Console, row: ParkedEvent) -> None:
    for name, value in as_json(row).items():
        if name != "traceback":
            console.print(f"[bold]{name:>18}[/bold]  {value}")
    if row.traceback:
        console.print("[bold]traceback[/bold]")
        console.print(row.traceback, markup=False, highlight=False)


def as_json(row: ParkedEvent) -> dict[str, object]:
    return {"id": row.id, "follower": row.follower, "upstream": row.upstream, "partition": row.partition,
            "notification_id": row.notification_id, "originator_id": str(row.originator_id),
            "originator_version": row.originator_version, "topic": row.topic, "status": row.status.value,
            "error": row.error, "attempts": row.attempts, "parked_at": row.parked_at.isoformat(),
            "updated_at": row.updated_at.isoformat(), "resolved_by": row.resolved_by, "reason": row.reason,
            "traceback": row.traceback}
