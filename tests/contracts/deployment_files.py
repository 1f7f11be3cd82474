"""The deployment files read as their own tools would: compose.yaml interpolated as Compose does, the
Dockerfile split into stages, .env.example, the settings the code reads, and the `logistics` parser."""

import json
import re
import shlex
import tomllib
from argparse import ArgumentParser, Namespace, _SubParsersAction
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA_FILE = ROOT / "deploy" / "compose-spec.schema.json"
SCHEMA_README = ROOT / "deploy" / "README.md"
SETTINGS_SOURCE = ROOT / "adapters" / "settings.py"
OPERATIONS_GUIDE = ROOT / "docs" / "operations.md"
README = ROOT / "README.md"

PLATFORM_SERVICES = ("migrate", "command-api", "query-api", "grpc", "worker", "projector")
LONG_RUNNING = ("command-api", "query-api", "grpc", "worker", "projector")
# Processes whose health is served on a --health-port of their own (the gRPC face's own port speaks gRPC).
HEALTH_PORT_SERVICES = ("grpc", "worker", "projector")
BACKING_SERVICES = ("postgres", "rabbitmq")
REQUIRED_SECRETS = ("LOGISTICS_SECRET", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD")
PREFIX = "LOGISTICS_"
TBD = "TBD-by-lead"


# ---- helpers -------------------------------------------------------------------------------------------------

class MissingVariable(ValueError):
    pass


COMPOSE_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, env: Mapping[str, str], missing: list[str]) -> str:
    """Compose's interpolation: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME:+alt}."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name)
        absent = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return arg if absent else str(current)
        if op in (":?", "?"):
            if absent:
                missing.append(f"{name}: {arg}")
                return ""
            return str(current)
        if op in (":+", "+"):
            return "" if absent else arg
        return current or ""

    return COMPOSE_INTERPOLATION.sub(replace, value)


def interpolate_document(node: Any, env: Mapping[str, str], missing: list[str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env, missing)
    if isinstance(node, list):
        return [interpolate_document(item, env, missing) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_document(value, env, missing) for key, value in node.items()}
    return node


def raw_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict), "compose.yaml is not a mapping"
    return document


@dataclass(frozen=True)
class EnvExample:
    active: dict[str, str]
    """NAME=value lines: what compose reads from a .env copied from the example."""
    documented: dict[str, str]
    """Every NAME=value line, commented out or not, with the value it shows."""
    mentioned: set[str]
    """Every LOGISTICS_* name anywhere in the file, prose included."""


def env_example() -> EnvExample:
    active: dict[str, str] = {}
    documented: dict[str, str] = {}
    text = ENV_EXAMPLE.read_text()
    for line in text.splitlines():
        match = re.fullmatch(r"(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)", line.strip())
        if match is None:
            continue
        documented[match["name"]] = match["value"]
        if not match["comment"]:
            active[match["name"]] = match["value"]
    return EnvExample(active, documented, set(re.findall(r"\bLOGISTICS_[A-Z0-9_]*[A-Z0-9]\b", text)))


def compose_environment(**overrides: str) -> dict[str, str]:
    """What compose interpolates with: the .env copied from the example, its required secrets filled in."""
    env = dict(env_example().active)
    env.update({name: f"test-{name.lower().replace('_', '-')}" for name in REQUIRED_SECRETS})
    env.update(overrides)
    return env


def compose(**overrides: str) -> dict[str, Any]:
    missing: list[str] = []
    document = interpolate_document(raw_compose(), compose_environment(**overrides), missing)
    assert not missing, f"compose.yaml needs variables the example .env does not give: {missing}"
    assert isinstance(document, dict)
    return document


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"compose.yaml has no service {name!r}"
    found = services[name]
    assert isinstance(found, dict)
    return found


def known_settings() -> set[str]:
    """Every LOGISTICS_* variable the code reads: Settings' get("NAME") calls, plus literals in the packages."""
    source = SETTINGS_SOURCE.read_text()
    names = {PREFIX + name for name in re.findall(r"\bget\(\s*\"([A-Z][A-Z0-9_]*)\"", source)}
    names |= {PREFIX + name for name in re.findall(r"\{PREFIX\}([A-Z][A-Z0-9_]*)", source)}
    assert {"LOGISTICS_DATABASE_URL", "LOGISTICS_AMQP_URL", "LOGISTICS_SECRET"} <= names, \
        "the settings grep no longer finds the settings: adapters/settings.py changed shape"
    for package in packages():
        for path in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"\bLOGISTICS_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return names


def packages() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(pattern.rstrip("*") for pattern in include)


def parse(parser: ArgumentParser, argv: list[str]) -> Namespace:
    try:
        return parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"`logistics {shlex.join(argv)}` is refused by the logistics parser (see its message above)")


def subcommands(parser: ArgumentParser) -> dict[str, ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, _SubParsersAction):
            return dict(action.choices)
    return {}


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def probe_code(test: list[str]) -> str:
    """The Python a `python -c` health check runs."""
    assert test[:3] == ["CMD", "python", "-c"] or test[:2] == ["python", "-c"], \
        f"health check {test} is not `python -c` (the slim image has no curl)"
    return test[test.index("-c") + 1]


PROBE_URL = re.compile(r"http://(?:127\.0\.0\.1|localhost):(?P<port>\d+)(?P<path>/[A-Za-z0-9/_.-]*)")


def durations_s(text: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert "".join(f"{n}{u}" for n, u in parts) == text, f"{text!r} is not a Compose duration"
    return sum(float(number) * units[unit] for number, unit in parts)


# ---- Dockerfile parsing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile() -> list[list[Instruction]]:
    """The Dockerfile's stages, each a list of instructions with continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"{instruction.keyword} before the first FROM"
        stages[-1].append(instruction)
    return stages


def exec_form(arguments: str) -> list[str]:
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        pytest.fail(f"{arguments!r} is not the JSON-array (exec) form")
    assert isinstance(value, list)
    assert all(isinstance(item, str) for item in value)
    return value


def final_stage() -> list[Instruction]:
    return dockerfile()[-1]


def last(stage: list[Instruction], keyword: str) -> Instruction:
    found = [instruction for instruction in stage if instruction.keyword == keyword]
    assert found, f"the final stage has no {keyword}"
    return found[-1]


def dockerfile_healthcheck() -> list[str]:
    arguments = last(final_stage(), "HEALTHCHECK").arguments
    assert " CMD " in f" {arguments} ", "HEALTHCHECK without CMD"
    return exec_form(arguments.split("CMD ", 1)[1])
