"""The Dockerfile and .dockerignore: the stages, the user, the entry point and health check, and the whitelist."""

import re
import shlex
import tomllib
from argparse import ArgumentParser

from tests.contracts.deployment_files import (
    DOCKERIGNORE,
    PREFIX,
    PROBE_URL,
    ROOT,
    dockerfile,
    dockerfile_healthcheck,
    exec_form,
    final_stage,
    known_settings,
    last,
    packages,
    parse,
    probe_code,
)

# ---- Dockerfile and .dockerignore ------------------------------------------------------------------------------

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


