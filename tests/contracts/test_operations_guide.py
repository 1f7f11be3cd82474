"""The operations guide: linked from the README, its shell commands accepted by the real `logistics` parser."""

import shlex
from argparse import ArgumentParser

from tests.contracts.deployment_files import (
    OPERATIONS_GUIDE,
    PLATFORM_SERVICES,
    README,
    TBD,
    parse,
    service,
    subcommands,
)

# ---- the operations guide --------------------------------------------------------------------------------------

def guide_commands() -> list[list[str]]:
    """The `logistics` arguments of the guide's shell commands: `logistics ARGS` (also after `docker compose exec
    SERVICE`), and `docker compose run [--flags] SERVICE ARGS` of a platform service (its entry point is logistics)."""
    commands: list[list[str]] = []
    fence: str | None = None
    pending = ""
    for line in OPERATIONS_GUIDE.read_text().splitlines():
        if line.strip().startswith("```"):
            fence = None if fence is not None else line.strip()[3:]
            continue
        if fence not in ("bash", "sh", "console"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        tokens = shlex.split((pending + line).strip().removeprefix("$ "), comments=True)
        pending = ""
        end = next((n for n, item in enumerate(tokens) if item in ("|", "&&", ";", ">", "<", "||")), len(tokens))
        tokens = tokens[:end]
        if tokens[:3] == ["docker", "compose", "run"]:
            rest = list(tokens[3:])
            while rest and rest[0].startswith("-"):
                rest.pop(0)
            if rest and rest[0] in PLATFORM_SERVICES:
                commands.append(rest[1:] or service(rest[0])["command"])
            continue
        for position, token in enumerate(tokens):
            if token == "logistics" or token.endswith("/logistics"):
                commands.append(tokens[position + 1:])
                break
    return commands


def test_operations_guide_is_linked_and_its_commands_are_real(parser: ArgumentParser) -> None:
    assert "docs/operations.md" in README.read_text()
    commands = guide_commands()
    assert len(commands) >= 5, "the guide's shell blocks should show the logistics commands an operator types"
    for command in commands:
        parse(parser, command)


def test_operations_guide_has_a_row_per_benchmark_and_placeholders_only_there(parser: ArgumentParser) -> None:
    text = OPERATIONS_GUIDE.read_text()
    section = text.split("## Measured figures", 1)
    assert len(section) == 2, "the guide needs a `## Measured figures` section"
    table = section[1].split("\n## ", 1)[0]
    for name in subcommands(subcommands(parser)["bench"]):
        assert f"logistics bench {name}" in table, f"no row for `logistics bench {name}` in Measured figures"
    assert text.count(TBD) == table.count(TBD), f"{TBD} belongs in the Measured figures table only"


