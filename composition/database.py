"""Which PostgreSQL the platform runs on: the configured one, or a private embedded one."""

from dataclasses import replace

from adapters.database import Database
from adapters.embedded_database import start_embedded_postgres
from adapters.settings import Settings


def locate_database(settings: Settings) -> Database:
    """The configured PostgreSQL, or a private embedded one when none is configured."""
    database = (Database.from_url(settings.database_url) if settings.database_url
                else start_embedded_postgres(settings.data_dir))
    return replace(database, typed_events=settings.typed_events)
