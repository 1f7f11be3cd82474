"""Fixtures every test tier shares: a fresh PostgreSQL database per run, and the real RabbitMQ.

Tests talk to real services. A missing service fails the run (it is never skipped).
"""

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from adapters.database import Database, create_database, drop_database
from adapters.settings import Settings
from tests.rabbit_env import RabbitEnv

TEST_SERVER_URL = os.environ.get("LOGISTICS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_AMQP_URL = os.environ.get("LOGISTICS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _require_reachable(url: str, default_port: int, name: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        pytest.exit(f"{name} is required at {host}:{port} and is not reachable: {error}", returncode=3)


@pytest.fixture(scope="session")
def pg_server() -> Database:
    _require_reachable(TEST_SERVER_URL, 5432, "PostgreSQL")
    return Database.from_url(TEST_SERVER_URL)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    _require_reachable(TEST_AMQP_URL, 5672, "RabbitMQ")
    return TEST_AMQP_URL


@pytest.fixture
def rabbit(amqp_url: str) -> Iterator[RabbitEnv]:
    env = RabbitEnv(amqp_url)
    try:
        yield env
    finally:
        env.cleanup()


def fresh_database(server: Database) -> Database:
    return create_database(server, f"logistics_test_{uuid4().hex[:12]}")


@pytest.fixture
def database(pg_server: Database) -> Iterator[Database]:
    """A database of its own for one test, dropped afterwards."""
    db = fresh_database(pg_server)
    try:
        yield db
    finally:
        drop_database(pg_server, db.dbname)


def make_settings(database: Database | None, data_dir: Path, amqp_url: str | None = None,
                  **overrides: str) -> Settings:
    env = {
        "LOGISTICS_DATA_DIR": str(data_dir),
        "LOGISTICS_SECRET": "test-secret-that-is-long-enough-for-hs256-signing",
        "LOGISTICS_ENV_FILE": str(data_dir / "no.env"),
        **({"LOGISTICS_DATABASE_URL": database.url} if database else {}),
        **({"LOGISTICS_AMQP_URL": amqp_url} if amqp_url else {}),
        **overrides,
    }
    return Settings.from_env(env)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return make_settings(database, tmp_path)
