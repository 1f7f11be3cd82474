"""The deployment files, checked without Docker.

compose.yaml is interpolated as Compose would and validated against the vendored Compose schema; every
platform process's command goes through the real `logistics` parser; the Dockerfile's stages, user, entry
point and health check, the .dockerignore whitelist, .env.example against the settings the code reads, and
the commands the operations guide tells an operator to type.
"""

import hashlib
import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from argparse import ArgumentParser, Namespace, _SubParsersAction
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
import yaml

from adapters.settings import Settings
from scripts.cli import build_parser

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


_INTERPOLATION = re.compile(
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

    return _INTERPOLATION.sub(replace, value)


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


# ---- fixtures ------------------------------------------------------------------------------------------------

@pytest.fixture
def parser(tmp_path: Path) -> ArgumentParser:
    settings = Settings.from_env({"LOGISTICS_SECRET": "test-secret", "LOGISTICS_DATA_DIR": str(tmp_path)},
                                 env_file=tmp_path / "absent.env")
    return build_parser(settings)


@pytest.fixture
def health_server() -> Iterator[tuple[str, list[int]]]:
    """A stand-in for a process's health endpoint: answers GET with the status at the head of the list."""
    status = [200]
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", status
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---- the vendored schema -------------------------------------------------------------------------------------

def test_vendored_schema_is_the_compose_specification_recorded_in_its_readme() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["title"] == "Compose Specification"
    assert validator_class(schema) is jsonschema.Draft7Validator, "Compose's schema is draft-07"
    validator_class(schema).check_schema(schema)
    digest = hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    assert digest in SCHEMA_README.read_text(), "deploy/README.md does not record the vendored schema's sha256"
    assert (ROOT / "deploy" / "LICENSE.compose-spec").is_file()


DRAFTS: tuple[type[jsonschema.protocols.Validator], ...] = (
    jsonschema.Draft4Validator, jsonschema.Draft6Validator, jsonschema.Draft7Validator,
    jsonschema.Draft201909Validator, jsonschema.Draft202012Validator,
)


def validator_class(schema: dict[str, Any]) -> type[jsonschema.protocols.Validator]:
    """The validator of the draft the schema declares. Compose writes `https://json-schema.org/draft-07/schema`,
    which jsonschema knows as `http://json-schema.org/draft-07/schema#`: match the draft, not the spelling."""

    def normal(uri: object) -> str:
        return re.sub(r"^https?://", "", str(uri)).rstrip("#")

    declared = schema.get("$schema")
    for draft in DRAFTS:
        if normal(draft.META_SCHEMA.get("$id", draft.META_SCHEMA.get("id"))) == normal(declared):
            return draft
    pytest.fail(f"the vendored schema declares no JSON Schema draft jsonschema knows: {declared!r}")


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = validator_class(schema)(schema)
    return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in validator.iter_errors(document)]


# ---- compose.yaml --------------------------------------------------------------------------------------------

def test_compose_file_is_valid_against_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


@pytest.mark.parametrize("mistake", ["condition", "replicas", "unknown key", "healthcheck"])
def test_schema_validation_notices_mistakes(mistake: str) -> None:
    document = compose()
    services = document["services"]
    if mistake == "condition":
        services["worker"]["depends_on"]["migrate"]["condition"] = "service_completed"
    elif mistake == "replicas":
        services["query-api"]["deploy"]["replicas"] = [2]
    elif mistake == "unknown key":
        services["projector"]["restart_policy"] = "always"
    else:
        services["worker"]["healthcheck"]["retry"] = 3
    assert schema_errors(document) != []


def test_compose_will_not_start_until_the_secrets_are_set() -> None:
    missing: list[str] = []
    interpolate_document(raw_compose(), env_example().active, missing)
    assert {entry.split(":")[0] for entry in missing} == set(REQUIRED_SECRETS)
    for name in REQUIRED_SECRETS:
        assert env_example().active.get(name) == "", f".env.example should list {name}= for the operator to fill"


def test_compose_runs_the_backing_services_and_every_platform_process() -> None:
    document = compose()
    assert set(document["services"]) == {*BACKING_SERVICES, *PLATFORM_SERVICES}
    assert set(document["volumes"]) >= {"pgdata"}


def test_postgres_is_recent_persistent_and_checked_with_pg_isready() -> None:
    postgres = service("postgres")
    image = re.fullmatch(r"postgres:(?P<major>\d+)(?:[.-].*)?", postgres["image"])
    assert image is not None, postgres["image"]
    assert int(image["major"]) >= 16, postgres["image"]
    volume = postgres["volumes"][0].split(":")
    assert volume[0] in compose()["volumes"]
    assert volume[1] == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_rabbitmq_is_the_management_image_checked_with_diagnostics_ping() -> None:
    rabbitmq = service("rabbitmq")
    assert rabbitmq["image"] == "rabbitmq:4-management"
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert rabbitmq.get("hostname"), "RabbitMQ keeps its data per node name: fix the host name"


def test_platform_processes_share_one_image_built_from_the_dockerfile() -> None:
    images = {service(name)["image"] for name in PLATFORM_SERVICES}
    assert len(images) == 1, f"platform processes run different images: {images}"
    for name in PLATFORM_SERVICES:
        build = service(name)["build"]
        context, file = (build, "Dockerfile") if isinstance(build, str) else \
            (build["context"], build.get("dockerfile", "Dockerfile"))
        assert (COMPOSE_FILE.parent / context / file).resolve() == DOCKERFILE, f"{name} is not built from ./Dockerfile"


@pytest.mark.parametrize("name", PLATFORM_SERVICES)
def test_each_platform_process_runs_its_own_logistics_subcommand(parser: ArgumentParser, name: str) -> None:
    command = service(name)["command"]
    assert isinstance(command, list), f"{name}: give the command as a list, it is appended to ENTRYPOINT logistics"
    assert parse(parser, command).command == name


@pytest.mark.parametrize("argv", [
    ["wroker", "--health-port", "9000"],
    ["worker", "--health-prot", "9000"],
    ["query-api", "--port", "eighty"],
])
def test_the_parser_refuses_a_misspelt_command(parser: ArgumentParser, argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parser.parse_args(argv)


def test_dependencies_exist_and_start_in_order() -> None:
    services = compose()["services"]
    for name, definition in services.items():
        for target in definition.get("depends_on", {}):
            assert target in services, f"{name} depends on {target}, which compose.yaml does not define"
    migrate = services["migrate"]["depends_on"]
    for backing in BACKING_SERVICES:
        assert migrate[backing]["condition"] == "service_healthy"
        assert services[backing]["healthcheck"]["test"], f"{backing} needs a health check to be waited for"
    for name in LONG_RUNNING:
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}


@pytest.mark.parametrize("name", PLATFORM_SERVICES)
def test_platform_processes_use_the_compose_services_and_one_secret(name: str, tmp_path: Path) -> None:
    environment = service(name)["environment"]
    assert isinstance(environment, dict)
    assert set(environment) <= known_settings(), f"{name} sets variables the platform does not read"
    database = urlsplit(environment["LOGISTICS_DATABASE_URL"])
    postgres = service("postgres")["environment"]
    assert (database.scheme, database.hostname, database.port) == ("postgresql", "postgres", 5432)
    assert (unquote(database.username or ""), unquote(database.password or ""), database.path.lstrip("/")) == \
        (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"])
    broker = urlsplit(environment["LOGISTICS_AMQP_URL"])
    rabbitmq = service("rabbitmq")["environment"]
    assert (broker.scheme, broker.hostname, broker.port) == ("amqp", "rabbitmq", 5672)
    assert (unquote(broker.username or ""), unquote(broker.password or "")) == \
        (rabbitmq["RABBITMQ_DEFAULT_USER"], rabbitmq["RABBITMQ_DEFAULT_PASS"])
    assert environment["LOGISTICS_SECRET"] == compose_environment()["LOGISTICS_SECRET"]
    env_file = service(name)["env_file"]
    assert [entry if isinstance(entry, str) else entry["path"] for entry in env_file] == [".env"]
    settings = Settings.from_env(environment, env_file=tmp_path / "absent.env")
    assert settings.host == "0.0.0.0"
    assert settings.database_url
    assert settings.amqp_url


def listen_port(name: str, parser: ArgumentParser) -> int:
    args = parse(parser, service(name)["command"])
    port = getattr(args, "health_port", None) if name in HEALTH_PORT_SERVICES else args.port
    assert isinstance(port, int), f"{name} serves no HTTP port for its health check"
    return port


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_health_checks_ask_each_process_whether_it_is_ready(parser: ArgumentParser, name: str) -> None:
    healthcheck = service(name)["healthcheck"]
    url = PROBE_URL.search(probe_code(healthcheck["test"]))
    assert url is not None, f"{name}: no http://127.0.0.1:PORT/... in its health check"
    assert (int(url["port"]), url["path"]) == (listen_port(name, parser), "/health/ready")
    if name in HEALTH_PORT_SERVICES:
        assert option(service(name)["command"], "--health-port") == url["port"]
    assert durations_s(healthcheck["timeout"]) < durations_s(healthcheck["interval"])
    timeout = re.search(r"timeout=(\d+(?:\.\d+)?)", probe_code(healthcheck["test"]))
    assert timeout is not None, f"{name}: the probe sets no timeout of its own"
    assert float(timeout[1]) < durations_s(healthcheck["timeout"]), \
        f"{name}: the probe's own timeout must end before Docker gives up on it"


def health_probes() -> dict[str, str]:
    probes = {name: probe_code(service(name)["healthcheck"]["test"]) for name in LONG_RUNNING}
    probes["Dockerfile"] = probe_code(dockerfile_healthcheck())
    return probes


@pytest.mark.parametrize("name", [*LONG_RUNNING, "Dockerfile"])
def test_health_probe_passes_on_200_and_fails_on_503(name: str, health_server: tuple[str, list[int]]) -> None:
    address, status = health_server
    code = PROBE_URL.sub(lambda match: f"http://{address}{match['path']}", health_probes()[name])
    for answer, succeeds in ((200, True), (503, False)):
        status[0] = answer
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=False)
        assert (result.returncode == 0) is succeeds, f"{name}: probe exit {result.returncode} on HTTP {answer}"


def test_query_api_scales_without_fixed_host_ports() -> None:
    query_api = service("query-api")
    assert query_api["deploy"]["replicas"] >= 2
    for port in query_api.get("ports", []):
        if isinstance(port, dict):
            assert not port.get("published") or "-" in str(port["published"]), port
            continue
        parts = str(port).split(":")
        assert len(parts) == 1 or "-" in parts[-2], f"{port}: a fixed host port clashes between replicas"
        assert parts[-1] == "8001"
    for name in ("worker", "projector"):
        assert service(name).get("deploy", {}).get("replicas", 1) == 1, f"{name} must run exactly once"


def test_restart_policies_and_graceful_stops() -> None:
    assert service("migrate")["restart"] == "no"
    for name in (*LONG_RUNNING, *BACKING_SERVICES):
        assert service(name)["restart"] in ("always", "unless-stopped", "on-failure"), name
        assert durations_s(service(name)["stop_grace_period"]) >= 10, name


def test_platform_ports_are_exposed_by_the_image(parser: ArgumentParser) -> None:
    exposed = {int(port.split("/")[0]) for instruction in final_stage() if instruction.keyword == "EXPOSE"
               for port in instruction.arguments.split()}
    assert {listen_port(name, parser) for name in LONG_RUNNING} <= exposed
    assert parse(parser, service("grpc")["command"]).port in exposed


def test_the_grpc_face_publishes_its_port_and_reads_the_platforms_default(parser: ArgumentParser,
                                                                          tmp_path: Path) -> None:
    args = parse(parser, service("grpc")["command"])
    assert [str(port).rsplit(":", 1)[-1] for port in service("grpc")["ports"]] == [str(args.port)]
    default = Settings.from_env({"LOGISTICS_SECRET": "test-secret", "LOGISTICS_DATA_DIR": str(tmp_path)},
                                env_file=tmp_path / "absent.env")
    assert parse(parser, ["grpc"]).port == default.grpc_port == 50051
    assert parse(parser, ["run"]).grpc_port == default.grpc_port


# ---- Dockerfile and .dockerignore ------------------------------------------------------------------------------

def dockerfile_healthcheck() -> list[str]:
    arguments = last(final_stage(), "HEALTHCHECK").arguments
    assert " CMD " in f" {arguments} ", "HEALTHCHECK without CMD"
    return exec_form(arguments.split("CMD ", 1)[1])


def test_dockerfile_builds_a_wheel_then_installs_it_on_the_slim_base() -> None:
    stages = dockerfile()
    assert len(stages) >= 2, "a multi-stage build: a wheel in one stage, installed in the next"
    for stage in stages:
        assert stage[0].arguments.split()[0] == "python:3.11-slim"
    build_name = stages[0][0].arguments.split()[-1]
    assert any(i.keyword == "RUN" and "pip wheel" in i.arguments for i in stages[0])
    installs = [i for i in stages[-1] if i.keyword == "RUN" and "pip install" in i.arguments]
    assert installs
    assert any(f"from={build_name}" in i.arguments for i in installs)
    copies_from_context = [i for i in stages[-1] if i.keyword in ("COPY", "ADD") and "--from=" not in i.arguments]
    assert copies_from_context == [], "the runtime stage takes nothing from the build context: the wheels carry it"


def test_dockerfile_copies_exactly_the_packages_and_dockerignore_lets_only_them_through() -> None:
    copied: set[str] = set()
    for instruction in dockerfile()[0]:
        if instruction.keyword == "COPY" and "--from=" not in instruction.arguments:
            copied |= {source.rstrip("/") for source in instruction.arguments.split()[:-1]}
    assert copied == {*packages(), "pyproject.toml", "README.md"}
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    assert lines[0] == "*", ".dockerignore should exclude everything first and let through what is copied"
    assert {line[1:].rstrip("/") for line in lines if line.startswith("!")} == copied


def test_pyproject_ships_every_file_under_web_as_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data: dict[str, list[str]] = pyproject["tool"]["setuptools"].get("package-data", {})
    shipped = {path for package, patterns in package_data.items() for pattern in patterns
               for path in (ROOT / package.replace(".", "/")).glob(pattern) if path.is_file()}
    data = {path for path in (ROOT / "web").rglob("*") if path.is_file() and path.suffix not in (".py", ".pyc")
            and "__pycache__" not in path.parts}
    assert data - shipped == set(), "these files under web/ would be missing from the wheel (and the image)"


def test_dockerfile_runs_as_a_non_root_user() -> None:
    stage = final_stage()
    user = last(stage, "USER").arguments.split(":")[0]
    assert user not in ("root", "0", "")
    assert any(i.keyword == "RUN" and "useradd" in i.arguments and re.search(rf"\b{re.escape(user)}\b", i.arguments)
               for i in stage), f"the final stage does not create the user {user}"
    index = {id(i): n for n, i in enumerate(stage)}
    assert index[id(last(stage, "USER"))] > max(index[id(i)] for i in stage if i.keyword == "RUN"), \
        "USER should come after the last RUN, so that nothing runs as root at run time"


def test_dockerfile_entrypoint_and_cmd_are_logistics_subcommands(parser: ArgumentParser) -> None:
    stage = final_stage()
    entrypoint = exec_form(last(stage, "ENTRYPOINT").arguments)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert entrypoint == ["logistics"]
    assert "logistics" in pyproject["project"]["scripts"]
    cmd = exec_form(last(stage, "CMD").arguments)
    args = parse(parser, cmd)
    assert args.command == "run"
    assert args.host == "0.0.0.0"
    assert dockerfile_healthcheck()[:2] == ["python", "-c"]
    url = PROBE_URL.search(probe_code(dockerfile_healthcheck()))
    assert url is not None
    assert (int(url["port"]), url["path"]) == (args.port, "/health/ready")


def test_dockerfile_sets_only_real_settings() -> None:
    names = {pair.split("=")[0] for i in dockerfile()[-1] if i.keyword == "ENV" for pair in shlex.split(i.arguments)}
    logistics = {name for name in names if name.startswith(PREFIX)}
    assert logistics
    assert logistics <= known_settings()


# ---- .env.example ----------------------------------------------------------------------------------------------

def test_env_example_documents_every_setting_and_nothing_else() -> None:
    example = env_example()
    documented = {name for name in example.documented if name.startswith(PREFIX)}
    settings = known_settings()
    assert settings - documented == set(), "settings the code reads that .env.example does not document"
    assert example.mentioned - settings == set(), "names in .env.example that no code reads"


def test_env_example_shows_the_real_defaults(tmp_path: Path) -> None:
    base = {"LOGISTICS_SECRET": "test-secret", "LOGISTICS_DATA_DIR": str(tmp_path)}
    default = Settings.from_env(base, env_file=tmp_path / "absent.env")
    for name, value in env_example().documented.items():
        if name.startswith(PREFIX) and name not in base:
            shown = Settings.from_env({**base, name: value}, env_file=tmp_path / "absent.env")
            assert shown == default, f".env.example shows {name}={value}, which is not its default"


def test_env_example_documents_every_compose_variable_with_its_default() -> None:
    used: dict[str, str | None] = {}
    for match in _INTERPOLATION.finditer(COMPOSE_FILE.read_text()):
        name = match["name"] or match["bare"]
        if name:
            used[name] = match["arg"] if match["op"] in (":-", "-") else used.get(name)
    documented = env_example().documented
    assert set(used) - set(documented) == set(), "variables compose.yaml uses that .env.example does not document"
    for name, default in used.items():
        if default is not None:
            assert documented[name] == default, f"{name}: compose.yaml defaults to {default!r}, .env.example shows " \
                                                f"{documented[name]!r}"
    unused = {name for name in documented if not name.startswith(PREFIX)} - set(used)
    assert unused == set(), "compose variables in .env.example that compose.yaml does not use"


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


