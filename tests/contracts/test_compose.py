"""compose.yaml, checked without Docker: interpolated as Compose would, validated against the vendored Compose
schema, and every platform process's command, environment and health check held to what the code accepts.
"""

import hashlib
import json
import re
import subprocess
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest

from adapters.settings import Settings
from tests.contracts.deployment_files import (
    BACKING_SERVICES,
    COMPOSE_FILE,
    DOCKERFILE,
    HEALTH_PORT_SERVICES,
    LONG_RUNNING,
    PLATFORM_SERVICES,
    PROBE_URL,
    REQUIRED_SECRETS,
    ROOT,
    SCHEMA_FILE,
    SCHEMA_README,
    compose,
    compose_environment,
    dockerfile_healthcheck,
    durations_s,
    env_example,
    final_stage,
    interpolate_document,
    known_settings,
    option,
    parse,
    probe_code,
    raw_compose,
    service,
)

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


