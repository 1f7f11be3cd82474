"""How many PostgreSQL connections each platform process holds, sampled from pg_stat_activity.

Every `logistics` process names its connections `logistics <command> <pid>` (see scripts/cli.py), so the
server itself can say how many each holds; the sampler keeps the most it saw per command.
"""

import re
import threading
from collections import defaultdict
from types import TracebackType
from typing import Final

import psycopg

from adapters.database import Database

_NAME: Final = re.compile(r"logistics (\S+) \d+$")


class ConnectionSampler:
    """The most connections each kind of process held, sampled every `every_s` while the block runs."""

    def __init__(self, database: Database, every_s: float = 0.02) -> None:
        self._database = database
        self._every_s = every_s
        self.most: dict[str, int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="connection-sampler", daemon=True)

    def __enter__(self) -> "ConnectionSampler":
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with psycopg.connect(self._database.url, autocommit=True, application_name="connection sampler") as connection:
            while not self._stop.wait(self._every_s):
                per_process: dict[str, int] = defaultdict(int)
                for name, count in connection.execute(
                        "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY 1",
                        (self._database.dbname,)).fetchall():
                    found = _NAME.match(str(name))
                    if found:
                        # Two processes of one command (two workers) each count against their own budget.
                        per_process[str(name)] = int(count)
                for name, count in per_process.items():
                    command = _NAME.match(name)
                    assert command is not None
                    self.most[command[1]] = max(self.most[command[1]], count)
