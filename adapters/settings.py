"""Settings from environment variables, with an optional `.env` file beneath them."""

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

PREFIX = "LOGISTICS_"
_N = TypeVar("_N", int, float)
_C = TypeVar("_C")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    """A real PostgreSQL; unset means a private embedded server under `data_dir`."""
    amqp_url: str | None
    """A real RabbitMQ; unset means the in-process broker."""
    amqp_exchange: str
    """The topic exchange every message goes to."""
    data_dir: Path
    configured_secret: str | None
    """`LOGISTICS_SECRET`; unset means one kept in the data folder, made the first time something signs."""
    host: str
    port: int
    query_port: int
    db_pool_size: int
    db_max_overflow: int
    payment_timeout_s: float
    outbox_retention_h: float
    """How long sent outbox rows are kept, so that push clients can resume from them."""
    ready_max_lag_s: float
    """The query API reports itself not ready while its read models lag more than this."""
    demo: bool = False
    """The web login offers ready-made demo identities instead of asking for a token."""
    grpc_port: int = 50051
    """Where the gRPC face listens, alone (`logistics grpc`) or beside the HTTP server (`logistics run`)."""
    typed_events: bool = True
    """Write new events as typed JSON (`LOGISTICS_EVENT_FORMAT=typed`); `tagged` keeps writing the library's
    tagged JSON, both being read either way: the first step of a rolling upgrade (docs/operations.md)."""
    checkpoint_interval_s: float = 40.0
    """A courier's route reaches the event store at most this often (a checkpoint), however often it reports."""
    courier_silence_s: float = 120.0
    """A courier that has reported nothing for this long loses the shipment it has not picked up yet."""
    track_retention_h: float = 72.0
    """How long every reported point of a shipment's route is kept (the checkpoints stay in the event store)."""
    max_courier_speed_kmh: float = 250.0
    """A reported point implying a faster move than this from the one before is refused (a GPS jump)."""

    @property
    def secret(self) -> str:
        """The HS256 signing key. Read (or created) only when asked, so `--help` or a typo leaves no file."""
        return self.configured_secret or _local_secret(self.data_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> "Settings":
        """Read settings; real environment variables win over the `.env` file."""
        source = dict(environ if environ is not None else os.environ)
        file = env_file if env_file is not None else Path(source.get(f"{PREFIX}ENV_FILE", ".env"))
        merged = {k: v for k, v in dotenv_values(file).items() if v is not None} if file.is_file() else {}
        merged.update(source)

        def get(name: str, default: str | None = None) -> str | None:
            value = merged.get(PREFIX + name)
            return value if value not in (None, "") else default

        data_dir = Path(get("DATA_DIR", ".data") or ".data").resolve()
        database_url = get("DATABASE_URL")
        return cls(
            database_url=database_url,
            amqp_url=get("AMQP_URL"),
            amqp_exchange=get("AMQP_EXCHANGE", "logistics.events") or "logistics.events",
            data_dir=data_dir,
            configured_secret=get("SECRET"),
            host=get("HOST", "127.0.0.1") or "127.0.0.1",
            port=_number(get("PORT"), "PORT", 8000, int),
            query_port=_number(get("QUERY_PORT"), "QUERY_PORT", 8001, int),
            db_pool_size=_number(get("DB_POOL_SIZE"), "DB_POOL_SIZE", 2, int),
            db_max_overflow=_number(get("DB_MAX_OVERFLOW"), "DB_MAX_OVERFLOW", 2, int),
            payment_timeout_s=_number(get("PAYMENT_TIMEOUT_S"), "PAYMENT_TIMEOUT_S", 30.0, float),
            outbox_retention_h=_number(get("OUTBOX_RETENTION_H"), "OUTBOX_RETENTION_H", 168.0, float),
            ready_max_lag_s=_number(get("READY_MAX_LAG_S"), "READY_MAX_LAG_S", 30.0, float),
            # A private embedded database is a try-out; a configured one may hold real customers.
            demo=_flag(get("DEMO"), "DEMO", default=database_url is None),
            grpc_port=_number(get("GRPC_PORT"), "GRPC_PORT", 50051, int),
            typed_events=_choice(get("EVENT_FORMAT"), "EVENT_FORMAT", {"typed": True, "tagged": False}, True),
            checkpoint_interval_s=_number(get("CHECKPOINT_INTERVAL_S"), "CHECKPOINT_INTERVAL_S", 40.0, float),
            courier_silence_s=_number(get("COURIER_SILENCE_S"), "COURIER_SILENCE_S", 120.0, float),
            track_retention_h=_number(get("TRACK_RETENTION_H"), "TRACK_RETENTION_H", 72.0, float),
            max_courier_speed_kmh=_number(get("MAX_COURIER_SPEED_KMH"), "MAX_COURIER_SPEED_KMH", 250.0, float),
        )


def _number(raw: str | None, name: str, default: _N, kind: Callable[[str], _N]) -> _N:
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}={raw!r} is not a number") from None


def _flag(raw: str | None, name: str, *, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{PREFIX}{name}={raw!r} is not a yes/no value")


def _choice(raw: str | None, name: str, choices: Mapping[str, _C], default: _C) -> _C:
    if raw is None:
        return default
    try:
        return choices[raw.strip().lower()]
    except KeyError:
        raise SettingsError(f"{PREFIX}{name}={raw!r} is not one of {', '.join(choices)}") from None


def _local_secret(data_dir: Path) -> str:
    """A signing secret kept in the data folder, so tokens outlive restarts when none is configured."""
    path = data_dir / "secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
