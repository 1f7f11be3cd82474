"""`logistics status`: every projection's and policy's position, the streams' heads, lag, the relay's backlog."""

import json
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from adapters.platform_status import platform_status
from adapters.settings import Settings
from composition.database import locate_database
from queries.platform_status import PlatformStatus


def print_status(status: PlatformStatus, console: Console) -> None:
    heads = Table(title="Event streams")
    for column in ("context", "head", "last event at"):
        heads.add_column(column)
    for head in status.heads:
        heads.add_row(head.context, str(head.position), head.at.isoformat() if head.at else "-")
    console.print(heads)
    followers = Table(title="Followers")
    for column in ("follower", "upstream", "position", "head", "lag (events)", "lag (s)"):
        followers.add_column(column, justify="left" if column in ("follower", "upstream") else "right")
    for follower in status.followers:
        lag_s = "-" if follower.lag_seconds is None else f"{follower.lag_seconds:.1f}"
        followers.add_row(follower.follower, follower.upstream, str(follower.position), str(follower.head),
                          str(follower.lag_events), lag_s)
    console.print(followers)
    console.print("A follower's position counts the events it does not need as seen: it equals the head exactly "
                  "when its lag is 0.")
    relay = status.relay
    age = "-" if relay.oldest_unsent_age_s is None else f"{relay.oldest_unsent_age_s:.1f} s"
    console.print(f"Relay backlog: {relay.unsent} unsent (oldest {age}); {relay.sent_kept} sent rows kept")
    if status.parked:
        parked = Table(title="[bold red]PARKED EVENTS: these followers skip events an operator must retry or skip "
                             "(`logistics parked list`)[/bold red]", border_style="red")
        for column in ("follower", "parked", "held behind them", "oldest"):
            parked.add_column(column, justify="left" if column == "follower" else "right")
        for count in status.parked:
            parked.add_row(count.follower, str(count.parked), str(count.held), f"{count.oldest_age_s:,.0f} s")
        console.print(parked)


def run_status(settings: Settings, as_json: bool) -> int:
    status = platform_status(locate_database(settings))
    if as_json:
        print(json.dumps(asdict(status), default=str, indent=2))
    else:
        print_status(status, Console())
    return 0
