"""What every rebuild run shares: one run of a model at a time (`rebuild_lock`), and the result it reports."""

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from adapters.database import Database
from adapters.rebuild_compare import Mismatch
from projections.read_model import ReadModel

# Session advisory locks (two-key form) keep two rebuilds of one model apart; the first key is ours.
REBUILD_LOCK_SPACE = 0x0EB1D


class RebuildInProgress(RuntimeError):
    pass


@dataclass
class RebuildResult:
    model: str
    mode: str
    generation: int
    events: int
    """Events of the model's upstreams folded or applied into the result."""
    seconds: float
    phases: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Per phase: events and seconds."""
    mismatches: list[Mismatch] = field(default_factory=list)
    read: int = 0
    """Events read from the logs for the main replay; one in-place pass shares them among its models."""
    left_out: int = 0
    """Parked or skipped events left out, as the live path left them out."""

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@contextmanager
def rebuild_lock(database: Database, models: Sequence[ReadModel]) -> Iterator[None]:
    """Only one rebuild of a model at a time: a second one would drop the first one's generation."""
    with database.connect() as connection:
        try:
            for model in models:
                row = connection.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                         (REBUILD_LOCK_SPACE, _lock_key(model))).fetchone()
                if not (row and row[0]):
                    raise RebuildInProgress(f"another rebuild of {model.name} is running")
            yield  # a session that dies takes its locks with it
        finally:
            # Given back before the connection closes: a closed session's backend lets go of its locks only
            # once it has exited, a moment after the client has moved on, and the next rebuild would find them.
            if not connection.closed and not connection.broken:
                connection.execute("SELECT pg_advisory_unlock_all()")


def _lock_key(model: ReadModel) -> int:
    return zlib.crc32(model.name.encode()) - 2**31
