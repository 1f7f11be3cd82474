""".env.example against the settings the code reads and the variables compose.yaml uses, defaults included."""

from pathlib import Path

from adapters.settings import Settings
from tests.contracts.deployment_files import (
    COMPOSE_FILE,
    COMPOSE_INTERPOLATION,
    PREFIX,
    env_example,
    known_settings,
)

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
    for match in COMPOSE_INTERPOLATION.finditer(COMPOSE_FILE.read_text()):
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


